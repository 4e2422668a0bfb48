"""Show BibTeX derived from the repository's `CITATION.cff` on the Cite page.

Why: `CITATION.cff` is the one place that says how to cite the paper and this companion
(and it follows the package version); a BibTeX block typed into the page would drift from
it. The directive

    ```{cff-bibtex} preferred-citation
    ```

renders the paper's entry (`preferred-citation`), and ``software`` the companion's own (the
file's top level). Only what the file states goes in: no field is guessed (the file gives
the companion no release date, so its entry has no year).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

CFF_NAME = "CITATION.cff"


def _authors(people: list[dict[str, str]]) -> str:
    """BibTeX's author list: 'Family, Given and ...'; an entity's name braced as one name."""
    names = []
    for person in people:
        if "family-names" in person:
            given = person.get("given-names")
            names.append(f"{person['family-names']}, {given}" if given else person["family-names"])
        else:
            names.append("{" + person["name"] + "}")
    return " and ".join(names)


def _key(entry: dict[str, Any], fallback: str) -> str:
    """'takaghaj2024rouser': first author's family name, year, first word of the title."""
    first = entry["authors"][0]
    family = first.get("family-names") or fallback
    word = re.findall(r"[A-Za-z]+", entry["title"])[0]
    return re.sub(r"[^a-z0-9]", "", f"{family}{entry.get('year', '')}{word}".lower())


def _protect(title: str) -> str:
    """Brace every word with a capital letter, so that BibTeX styles keep it as written
    (most lower-case titles: 'SNN' would print as 'snn')."""
    return re.sub(r"[\w-]*[A-Z][\w-]*", lambda word: "{" + word.group(0) + "}", title)


def _arxiv_id(entry: dict[str, Any]) -> str | None:
    """The arXiv identifier ('2407.19566') the entry states, if any."""
    for identifier in entry.get("identifiers", []):
        found = re.search(r"arXiv[.:](\d{4}\.\d{4,5})", str(identifier.get("value", "")))
        if found:
            return found.group(1)
    return None


def bibtex(cff: dict[str, Any], which: str) -> str:
    """One BibTeX entry from a parsed `CITATION.cff`: `which` is 'preferred-citation' (the
    paper) or 'software' (the repository itself, from the file's top level)."""
    if which == "preferred-citation":
        entry = cff["preferred-citation"]
        kind = "article" if entry.get("type") == "article" else "misc"
        fields = {"title": _protect(entry["title"]), "author": _authors(entry["authors"])}
        if "year" in entry:
            fields["year"] = str(entry["year"])
        if "journal" in entry:
            fields["journal"] = entry["journal"]
        arxiv = _arxiv_id(entry)
        if arxiv:
            fields |= {"eprint": arxiv, "archivePrefix": "arXiv"}
        dois = [i["value"] for i in entry.get("identifiers", []) if i.get("type") == "doi"]
        if dois:
            fields["doi"] = dois[0]
        if "url" in entry:
            fields["url"] = entry["url"]
        key = _key(entry, "paper")
    elif which == "software":
        entry, kind = cff, "software"
        fields = {"title": _protect(cff["title"]), "author": _authors(cff["authors"])}
        for name, cff_key in (("version", "version"), ("license", "license")):
            if cff_key in cff:
                fields[name] = str(cff[cff_key])
        fields["url"] = cff.get("repository-code") or cff["url"]
        key = f"rouser_companion_{cff['version']}".replace(".", "_")
    else:
        raise ValueError(f"cff-bibtex takes 'preferred-citation' or 'software', not {which!r}")
    width = max(map(len, fields))
    lines = [f"  {name:<{width}} = {{{value}}}," for name, value in fields.items()]
    return "\n".join([f"@{kind}{{{key},", *lines, "}"])


class CffBibtex(SphinxDirective):
    """```{cff-bibtex} preferred-citation``` or ```{cff-bibtex} software```: a BibTeX block."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Read `CITATION.cff` (the repository root, above the book) and render the entry."""
        path = Path(self.env.srcdir).resolve().parent / CFF_NAME
        self.env.note_dependency(str(path))  # a changed file rebuilds the page
        text = bibtex(yaml.safe_load(path.read_text()), self.arguments[0])
        block = nodes.literal_block(text, text, language="bibtex")
        return [block]


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the directive."""
    app.add_directive("cff-bibtex", CffBibtex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
