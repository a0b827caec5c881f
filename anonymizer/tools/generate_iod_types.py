#!/usr/bin/python3
"""Generates anonymizer/src/iod_types_gdcm.cpp: the PS3.3 attribute types that decide the
conditional action codes of PS3.15 Table E.1-1 (X/Z, X/D, Z/D, X/Z/D, X/Z/U*).

Usage: generate_iod_types.py PART3_XML UIDS_XML PROFILE_JSON OUT.cpp

PART3_XML and UIDS_XML are GDCM's machine-readable transcriptions of PS3.3 (IOD module tables,
module and macro attribute tables with their types) and of the PS3.6 UID registry, shipped by
Debian's libgdcm3.0 in /usr/share/gdcm-3.0/XML/. PROFILE_JSON is
../shared/dicom/confidentiality_profile_attributes.json: only the attributes that have a
conditional code in some column are written.

For each IOD the generator flattens its modules, resolving "Include ... Table N" macro rows, and
records for every such attribute the strictest type it has at the top level of the dataset and
the strictest type it has anywhere inside a sequence ("1C" counts as 1, "2C" as 2: when present
the attribute must then have a value, or may be empty). An attribute missing from the top-level
map is not part of the IOD (type 3 for the profile); one missing from the nested map is unknown.

SOP classes are tied to IODs by name (UIDS_XML "CT Image Storage" -> PART3_XML "CT Image IOD
Modules"), plus the explicit pairs in SOP_CLASS_IOD below where the names differ (PS3.4
Table B.5-1). Refuses (exit 1, one line on stderr) a pair naming an IOD the XML does not have,
an attribute type it does not know, or an empty result. Output is deterministic.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET

TYPES = {"1": 1, "1C": 1, "2": 2, "2C": 2, "3": 3}
CONDITIONAL = {"X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
COLUMNS = [
    "basicProfile", "rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt",
    "rtnPatCharsOpt", "rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "cleanDescOpt",
    "cleanStructContOpt", "cleanGraphOpt",
]
# PS3.4 Table B.5-1 pairs whose SOP class name and IOD name differ in GDCM's files.
SOP_CLASS_IOD = {
    "1.2.840.10008.5.1.4.1.1.1": "A.2-1",        # Computed Radiography -> CR Image
    "1.2.840.10008.5.1.4.1.1.3": "A.7-1",        # Ultrasound Multi-frame (retired)
    "1.2.840.10008.5.1.4.1.1.3.1": "A.7-1",      # Ultrasound Multi-frame -> US Multi Frame
    "1.2.840.10008.5.1.4.1.1.5": "A.5-1",        # Nuclear Medicine (retired)
    "1.2.840.10008.5.1.4.1.1.20": "A.5-1",       # Nuclear Medicine -> NM Image
    "1.2.840.10008.5.1.4.1.1.6": "A.6-1",        # Ultrasound (retired)
    "1.2.840.10008.5.1.4.1.1.6.1": "A.6-1",      # Ultrasound -> US Image
    "1.2.840.10008.5.1.4.1.1.7": "A.8-1",        # Secondary Capture -> SC Image
    "1.2.840.10008.5.1.4.1.1.7.1": "A.8-2",      # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2": "A.8-3",      # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3": "A.8-4",      # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4": "A.8-5",      # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.9.1.1": "A.34.3-1",  # 12-lead ECG
    "1.2.840.10008.5.1.4.1.1.9.1.2": "A.34.4-1",  # General ECG
    "1.2.840.10008.5.1.4.1.1.9.1.3": "A.34.5-1",  # Ambulatory ECG
    "1.2.840.10008.5.1.4.1.1.9.2.1": "A.34.6-1",  # Hemodynamic
    "1.2.840.10008.5.1.4.1.1.9.3.1": "A.34.7-1",  # Basic Cardiac EP
    "1.2.840.10008.5.1.4.1.1.9.4.1": "A.34.2-1",  # Basic Voice Audio
    "1.2.840.10008.5.1.4.1.1.12.1.1": "A.47-1",  # Enhanced XA
    "1.2.840.10008.5.1.4.1.1.12.2": "A.16-1",    # X-Ray Radiofluoroscopic -> XRF Image
    "1.2.840.10008.5.1.4.1.1.12.2.1": "A.48.-1",  # Enhanced XRF
    "1.2.840.10008.5.1.4.1.1.128": "A.21.3-1",   # Positron Emission Tomography -> PET Image
}
TABLE_RE = re.compile(r"Table\s+([A-Z]?[0-9][0-9A-Za-z.]*-[0-9A-Za-z]+)")


def fail(message):
    sys.stderr.write("generate_iod_types: " + message + "\n")
    sys.exit(1)


def norm(name):
    name = name.lower().replace("x-ray", "xray").replace("x ray", "xray")
    return re.sub("[^a-z0-9]", "", name)


def depth_of(text):
    text = (text or "").lstrip()
    return len(text) - len(text.lstrip(">"))


def conditional_tags(profile_json):
    with open(profile_json, encoding="utf-8") as f:
        rows = json.load(f)
    tags = set()
    for row in rows:
        if any(row.get(c) in CONDITIONAL for c in COLUMNS):
            m = re.match(r"^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$", row["tag"])
            if m:  # wildcard rows (gggx) have no conditional code today
                tags.add((int(m.group(1), 16) << 16) | int(m.group(2), 16))
    if not tags:
        fail("no attribute with a conditional code in " + profile_json)
    return tags


class Part3:
    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.tables = {}  # macro and module table id -> element
        for node in list(root.iter("macro")) + list(root.iter("module")):
            if node.get("table"):
                self.tables.setdefault(node.get("table"), node)
        self.iods = {n.get("table"): n for n in root.iter("iod") if n.get("table")}
        self.modules_by_ref = {}
        for node in root.iter("module"):
            if node.get("ref"):
                self.modules_by_ref.setdefault(node.get("ref"), node)

    def walk(self, node, base_depth, out, seen):
        """Adds (tag, depth, type) for every entry of a module or macro table."""
        for child in node:
            if child.tag == "entry":
                group, element, type_ = child.get("group"), child.get("element"), child.get("type")
                if not group or not element or type_ is None:
                    continue
                if not re.match("^[0-9A-Fa-f]{4}$", group) or not re.match(
                        "^[0-9A-Fa-f]{4}$", element):
                    continue  # repeating groups (60xx) and the like have no conditional code
                if type_ not in TYPES:
                    fail("unknown attribute type %r for (%s,%s)" % (type_, group, element))
                out.append(((int(group, 16) << 16) | int(element, 16),
                            base_depth + depth_of(child.get("name")), TYPES[type_]))
            elif child.tag == "include":
                ref = child.get("ref") or ""
                m = TABLE_RE.search(ref)
                if not m or m.group(1) not in self.tables or m.group(1) in seen:
                    continue  # prose ("Any other Attribute ...") or a table GDCM lacks
                self.walk(self.tables[m.group(1)], base_depth + depth_of(ref), out,
                          seen | {m.group(1)})


def main():
    if len(sys.argv) != 5:
        fail("usage: generate_iod_types.py PART3_XML UIDS_XML PROFILE_JSON OUT.cpp")
    part3_path, uids_path, profile_json, out_path = sys.argv[1:]
    wanted = conditional_tags(profile_json)
    part3 = Part3(part3_path)

    by_name = {}
    for table, node in part3.iods.items():
        by_name.setdefault(norm(node.get("name", "").replace(" IOD Modules", "")), table)
    sop_classes = {}
    for uid in ET.parse(uids_path).getroot().iter("uid"):
        name = uid.get("name") or ""
        if uid.get("type") != "SOP Class" or " Storage" not in name:
            continue
        table = by_name.get(norm(re.sub(r" Storage.*$", "", name)))
        if table:
            sop_classes[uid.get("value")] = table
    for uid, table in SOP_CLASS_IOD.items():
        if table not in part3.iods:
            fail("IOD table %s for %s is not in %s" % (table, uid, part3_path))
        sop_classes[uid] = table

    iod_types = {}
    for table in sorted(set(sop_classes.values())):
        entries = []
        for module_entry in part3.iods[table].iter("entry"):
            module = part3.modules_by_ref.get(module_entry.get("ref"))
            if module is not None:
                part3.walk(module, 0, entries, frozenset())
        top, nested = {}, {}
        for tag, depth, type_ in entries:
            if tag not in wanted:
                continue
            target = top if depth == 0 else nested
            target[tag] = min(target.get(tag, 9), type_)
        iod_types[table] = (top, nested)
    if not iod_types:
        fail("no IOD found")

    def ident(table):
        return "kIod_" + re.sub("[^0-9A-Za-z]", "_", table)

    lines = [
        "// clang-format off",
        "// generated by anonymizer/tools/generate_iod_types.py from GDCM's transcription of",
        "// DICOM PS3.3 and the PS3.6 UID registry (Part3.xml, UIDs.xml in",
        "// /usr/share/gdcm-3.0/XML, Debian libgdcm3.0) and",
        "// shared/dicom/confidentiality_profile_attributes.json; do not edit.",
        "// %d SOP classes, %d IODs, %d attributes with conditional codes." % (
            len(sop_classes), len(iod_types), len(wanted)),
        "#include \"iod_types.h\"",
        "",
        "namespace tsunagu::anonymizer::internal {",
        "namespace {",
        "",
    ]
    for table in sorted(iod_types):
        top, nested = iod_types[table]
        tags = sorted(set(top) | set(nested))
        name = part3.iods[table].get("name", "").replace(" IOD Modules", "")
        lines.append("// PS3.3 Table %s, %s" % (table, name))
        if not tags:
            lines.append("constexpr IodAttributeType* %s = nullptr;" % ident(table))
            lines.append("")
            continue
        lines.append("constexpr IodAttributeType %s[] = {" % ident(table))
        for tag in tags:
            lines.append("    {0x%08X, %d, %d}," % (tag, top.get(tag, 0), nested.get(tag, 0)))
        lines.append("};")
        lines.append("")
    lines.append("constexpr IodTypes kIods[] = {")
    for table in sorted(iod_types):
        top, nested = iod_types[table]
        count = len(set(top) | set(nested))
        lines.append("    {\"%s\", %s, %d}," % (table, ident(table), count))
    lines.append("};")
    lines.append("")
    lines.append("// Sorted by UID for binary search.")
    lines.append("constexpr SopClassIod kSopClasses[] = {")
    ordered = sorted(iod_types)
    for uid in sorted(sop_classes):
        lines.append("    {\"%s\", %d}," % (uid, ordered.index(sop_classes[uid])))
    lines.append("};")
    lines.append("")
    lines.append("}  // namespace")
    lines.append("")
    lines.append("std::span<const IodTypes> IodTypeTable() { return kIods; }")
    lines.append("std::span<const SopClassIod> SopClassIodTable() { return kSopClasses; }")
    lines.append("")
    lines.append("}  // namespace tsunagu::anonymizer::internal")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
