"""`python -m stopit_mail` runs the `stopit` command (useful where the script is not on PATH)."""

from stopit_mail.cli import main

main(prog_name="stopit")
