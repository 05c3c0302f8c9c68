// An accessibility checker run inside the page by the browser test (no third-party code):
// labels, names, landmarks, headings, language, alt text, unique ids, tab order, contrast and
// small-screen overflow. Returns a list of {rule, impact, where} violations.
const found = [];
const where = (el) => el.outerHTML.slice(0, 120);
const add = (rule, impact, el) => found.push({rule, impact, where: el ? where(el) : ""});
const visible = (el) => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
  return s.display !== "none" && s.visibility !== "hidden" && (r.width > 0 || r.height > 0); };
const text = (el) => (el.textContent || "").replace(/\s+/g, " ").trim();
const byId = (id) => document.getElementById(id);

if (!document.documentElement.lang) add("html-has-lang", "serious", document.documentElement);
if (!document.title.trim()) add("document-title", "serious", null);

// Form controls need a name a screen reader can say.
for (const el of document.querySelectorAll("input, select, textarea")) {
  if (["hidden", "submit", "button"].includes(el.type)) continue;
  const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`) && text(document.querySelector(`label[for="${el.id}"]`)))
    || el.closest("label") || el.getAttribute("aria-label")
    || (el.getAttribute("aria-labelledby") || "").split(" ").some((id) => byId(id) && text(byId(id)));
  if (!labelled) add("label", "critical", el);
  for (const id of (el.getAttribute("aria-describedby") || "").split(" ").filter(Boolean)) {
    if (!byId(id)) add("aria-valid-attr-value", "critical", el);
  }
}
for (const el of document.querySelectorAll("button, a[href]")) {
  if (!text(el) && !el.getAttribute("aria-label")) add(el.tagName === "A" ? "link-name" : "button-name", "serious", el);
}
for (const el of document.querySelectorAll("img")) {
  if (!el.hasAttribute("alt")) add("image-alt", "critical", el);
}

// Landmarks: one main, a banner and a contentinfo, and no content outside landmarks.
const mains = document.querySelectorAll("main, [role=main]");
if (mains.length !== 1) add("landmark-one-main", "serious", null);
if (!document.querySelector("body > header, [role=banner]")) add("landmark-banner", "moderate", null);
if (!document.querySelector("body > footer, [role=contentinfo]")) add("landmark-contentinfo", "moderate", null);
const landmark = "main, header, footer, nav, aside, [role]";
for (const el of document.body.children) {
  if (el.matches(landmark) || el.matches("a.skip") || el.tagName === "SCRIPT") continue;
  if (text(el)) add("region", "moderate", el);
}
for (const el of document.querySelectorAll("nav, aside")) {
  if (document.querySelectorAll(el.tagName).length > 1 && !el.getAttribute("aria-label")) add("landmark-unique", "moderate", el);
}

// Headings: exactly one h1, no skipped levels.
const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")];
if (document.querySelectorAll("h1").length !== 1) add("page-has-heading-one", "moderate", null);
let last = 0;
for (const h of headings) { const level = Number(h.tagName[1]);
  if (last && level > last + 1) add("heading-order", "moderate", h); last = level;
  if (!text(h)) add("empty-heading", "minor", h); }

// Unique ids, and no positive tabindex (it breaks the focus order).
const ids = {};
for (const el of document.querySelectorAll("[id]")) { if (ids[el.id]) add("duplicate-id", "minor", el); ids[el.id] = true; }
for (const el of document.querySelectorAll("[tabindex]")) { if (Number(el.getAttribute("tabindex")) > 0) add("tabindex", "serious", el); }

// Contrast (WCAG AA): every visible element with its own text, against its effective background.
const rgba = (c) => { const m = c.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
const lum = ({r, g, b}) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor);
  if (c.a > 0) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
for (const el of document.querySelectorAll("body *")) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !visible(el) || el.closest(".skip")) continue;
  const style = getComputedStyle(el);
  const fg = rgba(style.color), bg = background(el);
  const l1 = lum(fg), l2 = lum(bg);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
  const large = size >= 24 || (bold && size >= 18.66);
  if (ratio < (large ? 3 : 4.5)) add("color-contrast", "serious", el);
}

// Small screens: nothing wider than the viewport.
if (document.documentElement.scrollWidth > window.innerWidth + 1) add("small-screen-overflow", "serious", document.body);
return found;
