"""SEC EDGAR Form D: the daily form index and each filing's primary document (Form D XML, as
in EDGAR's Form D XML technical specification) into `funding` records (docs/sources.md)."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dealwatch.sources.names import Match, Resolver
from dealwatch.sources.outcomes import Emit, Malformed, Outcome, Review, Skip

FORMS = ("D", "D/A")
_INDEX_ROW = re.compile(
    r"^(?P<form>\S(?:.*?\S)?)\s{2,}(?P<company>\S(?:.*?\S)?)\s{2,}(?P<cik>\d+)\s+"
    r"(?P<filed>\d{8}|\d{4}-\d{2}-\d{2})\s+(?P<file>\S+)\s*$"
)
_ACCESSION = re.compile(r"(\d{10}-\d{2}-\d{6})")


@dataclass(frozen=True)
class Filing:
    """One Form D or D/A row of an EDGAR index."""

    form: str
    company: str
    cik: str
    filed: dt.date
    accession: str

    def document_path(self) -> str:
        """The primary document's path under the EDGAR archive root."""
        folder = self.accession.replace("-", "")
        return f"/Archives/edgar/data/{int(self.cik)}/{folder}/primary_doc.xml"


def parse_form_index(data: bytes) -> Iterator[Filing | Malformed]:
    """The Form D and D/A filings of an EDGAR daily form index (`form.YYYYMMDD.idx`)."""
    text = data.decode("latin-1")
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    except StopIteration:
        yield Malformed("not an EDGAR form index: no dashed line before the rows", "index")
        return
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        row = _INDEX_ROW.match(line)
        if row is None:
            yield Malformed(f"line {number}: not a form index row: {line[:80]!r}", "index")
            continue
        if row["form"] not in FORMS:
            continue
        accession = _ACCESSION.search(row["file"])
        if accession is None:
            yield Malformed(f"line {number}: no accession number in {row['file']!r}", "index")
            continue
        filed = row["filed"].replace("-", "")
        yield Filing(
            row["form"],
            row["company"],
            row["cik"],
            dt.date(int(filed[:4]), int(filed[4:6]), int(filed[6:])),
            accession.group(1),
        )


def _strip_namespaces(root: ET.Element) -> ET.Element:
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root


def _text(root: ET.Element, path: str) -> str | None:
    found = root.find(path)
    return found.text.strip() if found is not None and found.text else None


def _amount(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", "").replace("$", ""))
    except ValueError:
        return None


def funding_from_form_d(
    document: bytes,
    filing: Filing,
    url: str,
    resolver: Resolver,
    emitted: Callable[[str], bool],
) -> Outcome:
    """One filing's primary document → a `funding` record, a correction (an amendment of an
    emitted filing), a review item (issuer not matched), or a skip (nothing sold)."""
    try:
        root = _strip_namespaces(ET.fromstring(document))
    except ET.ParseError as error:
        return Malformed(f"Form D XML does not parse: {error}", url)
    if root.tag != "edgarSubmission" or root.find("offeringData") is None:
        return Malformed(f"not a Form D document (root element {root.tag!r})", url)
    issuer = _text(root, "primaryIssuer/entityName") or filing.company
    cik = _text(root, "primaryIssuer/cik") or filing.cik
    offering = root.find("offeringData")
    sold_text = _text(offering, "offeringSalesAmounts/totalAmountSold")
    sold = _amount(sold_text)
    if sold is None:
        return Malformed(f"totalAmountSold is not a number: {sold_text!r}", url)
    size = _text(offering, "offeringSalesAmounts/totalOfferingAmount") or "not stated"
    first_sale = _text(offering, "typeOfFiling/dateOfFirstSale/value")
    signed = _text(offering, "signatureBlock/signature/signatureDate")
    country = _text(root, "primaryIssuer/issuerAddress/stateOrCountryDescription") or _text(
        root, "primaryIssuer/issuerAddress/stateOrCountry"
    )
    record_id = f"sec-formd-{filing.accession}"
    reported = filing.filed.isoformat() if filing.filed else signed
    note = (
        f"SEC Form {filing.form}; total offering amount: {size}; issuer: {issuer} (CIK {cik}"
        + (f", {country}" if country else "")
        + ")"
    )
    fields = {"amount_usd": sold, "date": first_sale or reported, "note": note}
    previous = _text(offering, "typeOfFiling/newOrAmendment/previousAccessionNumber")
    is_amendment = (
        filing.form == "D/A"
        or (_text(offering, "typeOfFiling/newOrAmendment/isAmendment") or "").lower() == "true"
    )
    if is_amendment and previous and emitted(f"sec-formd-{previous}"):
        return Emit(
            {
                "id": record_id,
                "kind": "correction",
                "corrects": f"sec-formd-{previous}",
                "reported": reported,
                "fields": fields,
                "source": url,
            },
            url,
        )
    if sold <= 0:
        return Skip(f"{issuer}: nothing sold yet (totalAmountSold {sold_text})", url)
    record = {
        "id": record_id,
        "kind": "funding",
        "date": fields["date"],
        "reported": reported,
        "amount_usd": sold,
        "investors": [],
        "source": url,
        "note": note,
    }
    match = resolver.resolve(issuer, cik)
    if isinstance(match, Match):
        return Emit({**record, "company": match.slug}, url)
    return Review(
        record_id,
        "funding",
        match.reason,
        record,
        url,
        {"issuer": issuer, "cik": cik, "form": filing.form},
    )
