"""Sexual harassment named by the rules in every language the bank has (issue 9, "categories that help").

Reports rarely use the words "sexual harassment": they describe a hand on a thigh, a nude picture
made with an app and passed around, dirty jokes sent to younger pupils, remarks on girls' bodies.
Before these rules, 23 of the dev set's 106 sexual-harassment reports carried the category. The
sentences here are written for this test (not taken from the dev or holdout sets). The rules set
the category and the least urgency (*urgent*, as the policy for sexual harassment says); the model
can only raise it.
"""

from __future__ import annotations

import pytest

from stopit_mail.cases.triage import CompiledRules, compile_rules, load_rules, triage


@pytest.fixture(scope="module")
def rules() -> CompiledRules:
    return compile_rules(load_rules())


@pytest.mark.parametrize("text", [
    # unwanted touching described, not named
    "he keeps putting his hand on my thigh during the movie in class",
    "el chavo de atrás me puso la mano en la pierna en el camión",
    "o professor colocou a mão na minha coxa durante a prova",
    "il a mis sa main sur ma cuisse pendant le trajet",
    "er hat seine Hand auf meinen Oberschenkel gelegt",
    "ha messo la mano sulla mia coscia in corridoio",
    "położył mi rękę na udzie na lekcji",
    "он положил руку мне на бедро в раздевалке",
    "otobüste elini bacağıma koydu",
    "anh ta sờ đùi em trong giờ ra chơi",
    "hinawakan niya yung hita ko sa jeep",
    "li mete men l sou kwis mwen nan klas la",
    "wuxuu gacanta saaray bowdadayda",
    "كان يحط ايده على فخذي في الباص",
    "वो मेरी जांघ पर हाथ रखता है",
    "他在车上摸我大腿",
    "電車で太ももに手を置いてきた",
    "버스에서 허벅지를 만졌어요",
    # sexual images: made, passed around, sent unasked, taken up a skirt
    "someone made naked pics of my friend with an app and shared them",
    "quelqu'un fait circuler des photos nues d'une élève",
    "jemand verschickt Nacktbilder von einer Mitschülerin",
    "хтось розсилає голі фото однокласниці",
    "ai đó phát tán ảnh khỏa thân của bạn nữ lớp em",
    "یکی عکس لخت یه دختر رو پخش کرده",
    "有人在群里传她的裸照",
    "반 친구 나체 사진이 돌고 있어요",
    "he photographs up girls skirts on the stairs",
    # sexual jokes and remarks on bodies
    "older guys sent dirty jokes to my little sister on snapchat",
    "eles mandam piada de putaria pros menores",
    "шлёт пошлые шутки младшим",
    "wo bachon ko gande jokes bhejta hai",
    "他给初一的学生发黄段子",
    "el profe hace comentarios sobre el cuerpo de las chicas",
    "der Trainer kommentiert ständig die Figur der Mädchen",
    "thầy hay nhận xét cơ thể học sinh nữ",
])
def test_sexual_harassment_described_rather_than_named_is_categorised(text: str, rules: CompiledRules) -> None:
    decision = triage(text, rules)
    assert "sexual-harassment" in decision.categories, (decision.categories, text)
    assert decision.urgency == "urgent", (decision.urgency, text)


@pytest.mark.parametrize("text", [
    "estoy en sexto grado y la tarea es demasiada",         # "sext*" once matched "sexto" (sixth)
    "me molesta que nadie me conteste en el grupo",        # "molest*" once matched "molesto" (annoyed)
    "mi primo es rapero y canta en la escuela",            # "rape*" once matched "rapero" (rapper)
    "the cake had nude colour frosting for the bake sale",
    "mi tocca studiare tutto il weekend",                  # "I have to", not "he touches me"
    "мы пошли домой после уроков",                         # "went", not "vulgar"
    "er hat mein Handy angefasst ohne zu fragen",
    "she hurt her thigh in the soccer game",
    "he put his hand on my shoulder to comfort me",
    "we had to figure out the body paragraph of the essay",
    "l'arbitre siffle la fin du match",
])
def test_words_that_only_look_sexual_are_not_sexual_harassment(text: str, rules: CompiledRules) -> None:
    decision = triage(text, rules)
    assert "sexual-harassment" not in decision.categories, (text, [(m.rule, m.matched_text) for m in decision.matches])


@pytest.mark.parametrize(("text", "category"), [
    # a fight arranged for a time, beyond English and Spanish
    ("demain à la sortie il y a une bagarre prévue entre les 3e et les 4e", "threats-of-violence"),
    ("morgen nach der Schule gibt es eine Schlägerei am Parkplatz", "threats-of-violence"),
    ("завтра после уроков драка за гаражами", "threats-of-violence"),
    ("yarın okul çıkışı kavga olacakmış", "threats-of-violence"),
    ("明天放学后他们要约架", "threats-of-violence"),
    ("ngày mai tan học tụi nó đánh nhau ở sau trường", "threats-of-violence"),
    # hate symbols and the words for discrimination
    ("quelqu'un a dessiné une croix gammée sur la porte", "discrimination"),
    ("ktoś narysował swastykę na drzwiach", "discrimination"),
    ("she keeps deadnaming me on purpose", "discrimination"),
    ("sınıfta ırkçı şakalar yapıyorlar", "discrimination"),
    ("인종차별 발언을 했어요", "discrimination"),
    # staff yelling at or insulting a pupil
    ("le prof a crié sur mon fils devant toute la classe", "misconduct"),
    ("l'insegnante ha urlato contro mio figlio", "misconduct"),
    ("учитель накричал на мою дочь при всех", "misconduct"),
    ("المعلم صرخ على ابني قدام الطلاب", "misconduct"),
    ("担任が息子を怒鳴った", "misconduct"),
    # bullying named or described
    ("die anderen lachen mich jeden Tag aus", "bullying"),
    ("в классе меня дразнят и обзывают", "bullying"),
    ("tụi nó bắt nạt em mỗi ngày", "bullying"),
    ("الولاد بيتنمروا عليه كل يوم", "bullying"),
    ("クラスでいじめられてる", "bullying"),
    # what is passed round in a class group chat, and accounts made in someone's name
    ("quelqu'un a mis mes notes sur le groupe de la classe", "cyberbullying"),
    ("die Fotos gehen in den Gruppen der Zehner rum", "cyberbullying"),
    ("ktoś założył fałszywe konto z moim zdjęciem", "cyberbullying"),
    ("про меня пишут гадости по чатам", "cyberbullying"),
    ("حد نزل صوري في القروب", "cyberbullying"),
    ("有人在班级群里骂我", "cyberbullying"),
    ("단톡에서 저를 욕해요", "cyberbullying"),
    # an adult or an older student adding, following or hearting younger pupils on an app
    ("an older guy from the high school keeps adding sixth graders on snap", "inappropriate-online-behaviour"),
    ("un monitor agrega a niñas de primaria en tiktok", "inappropriate-online-behaviour"),
    ("ein Praktikant folgt auf Instagram vielen Schülerinnen aus der 6", "inappropriate-online-behaviour"),
    ("старшеклассник добавляет младших в тг", "inappropriate-online-behaviour"),
    ("一个大学生在抖音加小学生好友", "inappropriate-online-behaviour"),
    ("선배가 인스타로 중1들한테 친추해요", "inappropriate-online-behaviour"),
    # mocking an accent or a dialect; being followed, or written to again from new accounts
    ("ils se moquent de mon accent portugais", "discrimination"),
    ("학교 애들이 제 사투리를 놀려요", "discrimination"),
    ("он ходит за мной после уроков и пишет с новых аккаунтов", "harassment"),
    ("隔壁班的男生一直跟着我", "harassment"),
    # an account made in someone's name to mock them is cyberbullying, as the class group chat is
    ("someone made a fake tiktok pretending to be me and posts cringe stuff", "cyberbullying"),
])
def test_routine_categories_are_named_beyond_english_and_spanish(text: str, category: str,
                                                                 rules: CompiledRules) -> None:
    assert category in triage(text, rules).categories, (text, triage(text, rules).categories)


@pytest.mark.parametrize(("text", "category"), [
    ("we watched fight club after school", "threats-of-violence"),    # a film, not a fight
    ("the pillow fight at the sleepover was fun", "threats-of-violence"),
    ("we learned about the nazis in history", "discrimination"),     # the word alone is history class
    ("my little brother yelled at the dog", "misconduct"),            # no staff member near
    ("co lap trinh la mon em thich", "bullying"),                     # Vietnamese "programming", not "isolate"
    ("in der Gruppe haben wir das Referat geschrieben", "cyberbullying"),  # a work group, not a chat
    ("i follow my favourite girl bands on tiktok", "inappropriate-online-behaviour"),  # a pupil's own follows
    ("they added me to the group chat on whatsapp to laugh at me", "inappropriate-online-behaviour"),
    ("he adds younger kids to the team roster every fall", "inappropriate-online-behaviour"),  # no app near
    ("the teacher said my accent is improving", "discrimination"),
    ("i opened a new account at the bank for my job", "harassment"),
    ("someone made a fake tiktok pretending to be me and posts cringe stuff",  # cyberbullying, not this
     "inappropriate-online-behaviour"),
])
def test_routine_category_words_out_of_context_name_nothing(text: str, category: str, rules: CompiledRules) -> None:
    assert category not in triage(text, rules).categories, (text, triage(text, rules).categories)
