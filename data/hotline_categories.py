"""12345 category text -> our event category, by the editable keyword table `hotline_category_map`."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import Connection, text


def normalized(value: str) -> str:
    """Full-width letters and digits folded (NFKC), blanks dropped, lower case: how exports differ in spelling."""
    return "".join(unicodedata.normalize("NFKC", value).split()).lower()


@dataclass(frozen=True)
class CategoryMap:
    """Exact names first (code, 中文 or English name), then the longest keyword found anywhere in the text.

    12345 systems export a path such as "城乡建设/违章建筑/私搭乱建"; matching keywords inside it, the
    longest winning, lets "违章建筑" beat a shorter keyword of another category. Equal lengths: the one
    that appears first in the text wins, so the broad class at the start of a path decides.
    """

    keywords: Mapping[str, str]  # normalized keyword -> category code
    names: Mapping[str, str]  # normalized code, 中文 name and English name -> category code

    @classmethod
    def build(cls, keywords: Mapping[str, str], categories: Mapping[str, tuple[str, ...]]) -> "CategoryMap":
        """From keyword -> code and code -> (names...); blank keywords are ignored."""
        names = {normalized(n): code for code, labels in categories.items() for n in (code, *labels) if n}
        return cls({normalized(k): c for k, c in keywords.items() if normalized(k)}, names)

    @classmethod
    def from_db(cls, conn: Connection) -> "CategoryMap":
        keywords = dict(conn.execute(text("SELECT keyword, category FROM hotline_category_map")).all())
        categories = {code: (name, name_en) for code, name, name_en in
                      conn.execute(text("SELECT code, name, name_en FROM event_category"))}
        return cls.build(keywords, categories)

    def match(self, value: str) -> str | None:
        """Our category code for a 12345 category text, or None when nothing in the table matches."""
        key = normalized(value)
        if not key:
            return None
        if key in self.names:
            return self.names[key]
        found = [(-len(k), key.find(k), k) for k in self.keywords if k in key]
        return self.keywords[min(found)[2]] if found else None
