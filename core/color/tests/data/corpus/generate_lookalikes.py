"""Writes the look-alike files of the corpus: dialects real files use but of which no file
with a licence that allows keeping it was found (see SOURCES.md). Spectra are the BabelColor
ColorChecker averages of ../colorchecker_babelcolor.cgats; CIELAB and XYZ are computed by
colour-science (ASTM E308 with ecsp-color's CIE tables), so they are independent of ecsp-color.

Run: target/pyenv/bin/python core/color/tests/data/corpus/generate_lookalikes.py
"""
import os
import warnings

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import colour  # noqa: E402
from colour.colorimetry import sd_to_XYZ_ASTME308  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "data")


def table(path):
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    return rows[:, 0], rows[:, 1:]


def read_babelcolor():
    lines = open(os.path.join(HERE, "..", "colorchecker_babelcolor.cgats")).read().splitlines()
    start = lines.index("BEGIN_DATA") + 1
    end = lines.index("END_DATA")
    patches = []
    for line in lines[start:end]:
        parts = line.split('"')
        pid = parts[0].strip()
        name = parts[1]
        values = [float(v) for v in parts[2].split()]
        patches.append((pid, name, values))
    return patches


WL = 380 + 10 * np.arange(36)


def xyz_lab(values, ill, obs):
    cw, cv = table(f"{DATA}/cie{obs}_1nm.csv")
    keep = (cw >= 360) & (cw <= 780)
    cmfs = colour.MultiSpectralDistributions(dict(zip(cw[keep], cv[keep])))
    iw, iv = table(f"{DATA}/illuminant_{ill}_1nm.csv")
    keep = (iw >= 360) & (iw <= 780)
    illum = colour.SpectralDistribution(dict(zip(iw[keep], iv[keep, 0])))
    white = sd_to_XYZ_ASTME308(colour.SpectralDistribution(dict(zip(WL, np.ones(36)))), cmfs, illum)
    xyz = sd_to_XYZ_ASTME308(colour.SpectralDistribution(dict(zip(WL, values))), cmfs, illum)
    lab = colour.XYZ_to_Lab(xyz / 100, colour.XYZ_to_xy(white / 100))
    return xyz, lab


P = read_babelcolor()
# Device values for the ColorChecker patches as a printer chart would carry them: paper,
# solids, overprints and greys among them, so groups can be told apart.
CMYK = [
    (40, 60, 70, 30), (10, 35, 40, 0), (60, 30, 5, 0), (55, 20, 80, 10), (40, 40, 0, 0),
    (45, 0, 25, 0), (0, 55, 90, 0), (75, 55, 0, 0), (0, 100, 0, 0), (60, 80, 20, 20),
    (35, 0, 100, 0), (0, 35, 100, 0), (100, 100, 0, 0), (100, 0, 100, 0), (0, 100, 100, 0),
    (0, 0, 100, 0), (0, 100, 0, 50), (100, 0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 20),
    (0, 0, 0, 40), (50, 40, 40, 0), (0, 0, 0, 80), (0, 0, 0, 100),
]


def write(name, text, encoding="utf-8", newline="\n"):
    with open(os.path.join(HERE, name), "w", encoding=encoding, newline=newline) as f:
        f.write(text)



# 1. CGATS.17 SPECTRAL_NM / SPECTRAL_DEC pairs, with the file's own CIELAB (D50/2°).
rows = []
for (pid, name, v) in P:
    _, lab = xyz_lab(v, "D50", "1931_2deg")
    pairs = " ".join(f"{nm} {x:.4f}" for nm, x in zip(WL, v))
    rows.append(f'{pid} "{name}" {pairs} {lab[0]:.3f} {lab[1]:.3f} {lab[2]:.3f}')
write("lookalike_spectral_nm_dec_pairs.cgats", "\n".join([
    "CGATS.17",
    'ORIGINATOR "ecsp look-alike of the CGATS.17 wavelength/value pair layout"',
    'CREATED "2024-03-05T09:30:00Z"',
    'INSTRUMENTATION "Barbieri Spectro LFP (look-alike)"',
    'MEASUREMENT_CONDITION "M1"',
    'ILLUMINATION_NAME "D50"',
    'OBSERVER_ANGLE "2"',
    f"NUMBER_OF_FIELDS {2 + 72 + 3}",
    "BEGIN_DATA_FORMAT",
    "SAMPLE_ID SAMPLE_NAME " + " ".join(["SPECTRAL_NM SPECTRAL_DEC"] * 36) + " LAB_L LAB_A LAB_B",
    "END_DATA_FORMAT",
    f"NUMBER_OF_SETS {len(P)}",
    "BEGIN_DATA", *rows, "END_DATA", ""]))

# 2. Argyll .ti3: identifier CTI3, an Argyll block, CMYK + XYZ (D50/2°, 0-100) + SPEC_ in
#    percent, and a second table (CAL).
rows = []
for (pid, name, v), cmyk in zip(P, CMYK):
    xyz, _ = xyz_lab(v, "D50", "1931_2deg")
    spec = " ".join(f"{x * 100:.3f}" for x in v)
    rows.append(f"{pid} {' '.join(f'{c:.2f}' for c in cmyk)} {xyz[0]:.5f} {xyz[1]:.5f} {xyz[2]:.5f} {spec}")
cal = [f"{i / 4:.4f} {i / 4:.4f} {i / 4:.4f} {i / 4:.4f} {i / 4:.4f}" for i in range(5)]
write("lookalike_argyll_two_tables.ti3", "\n".join([
    "CTI3", "",
    'DESCRIPTOR "Argyll Calibration Target chart information 3"',
    'ORIGINATOR "Argyll chartread (look-alike)"',
    'CREATED "Tue Mar  5 09:30:00 2024"',
    'KEYWORD "DEVICE_CLASS"', 'DEVICE_CLASS "OUTPUT"',
    'KEYWORD "COLOR_REP"', 'COLOR_REP "CMYK_XYZ"',
    'KEYWORD "SPECTRAL_BANDS"', 'SPECTRAL_BANDS "36"',
    'KEYWORD "SPECTRAL_START_NM"', 'SPECTRAL_START_NM "380.000000"',
    'KEYWORD "SPECTRAL_END_NM"', 'SPECTRAL_END_NM "730.000000"',
    "BEGIN_ARGYLL_COLPROF_ARGS", "-v -qm -aX", "END_ARGYLL_COLPROF_ARGS",
    "", f"NUMBER_OF_FIELDS {1 + 4 + 3 + 36}",
    "BEGIN_DATA_FORMAT",
    "SAMPLE_ID CMYK_C CMYK_M CMYK_Y CMYK_K XYZ_X XYZ_Y XYZ_Z " + " ".join(f"SPEC_{nm}" for nm in WL),
    "END_DATA_FORMAT", "", f"NUMBER_OF_SETS {len(P)}",
    "BEGIN_DATA", *rows, "END_DATA", "",
    "CAL", "",
    'DESCRIPTOR "Argyll Device Calibration State"',
    'KEYWORD "DEVICE_CLASS"', 'DEVICE_CLASS "OUTPUT"',
    'KEYWORD "COLOR_REP"', 'COLOR_REP "CMYK"',
    "", "NUMBER_OF_FIELDS 5", "BEGIN_DATA_FORMAT",
    "CMYK_I CMYK_C CMYK_M CMYK_Y CMYK_K", "END_DATA_FORMAT", "",
    "NUMBER_OF_SETS 5", "BEGIN_DATA", *cal, "END_DATA", ""]))

# 3. R_NNN columns, SAMPLE_NAME only, decimal commas, the file's own OBSERVER "10" and CIELAB
#    for D65/10°, UTF-8 with CRLF.
rows = []
for (pid, name, v) in P:
    _, lab = xyz_lab(v, "D65", "1964_10deg")
    cells = [f'"{name}"'] + [f"{x:.4f}".replace(".", ",") for x in v] + [f"{x:.2f}".replace(".", ",") for x in lab]
    rows.append("\t".join(cells))
write("lookalike_r_nnn_observer10_decimal_comma.txt", "\n".join([
    "CGATS.17",
    'ORIGINATOR "ecsp look-alike: R_ columns, decimal commas, 10° observer"',
    'CREATED "05.03.2024 09:30"',
    'INSTRUMENTATION "Konica Minolta FD-9 (look-alike)"',
    'ILLUMINANT "D65"', 'OBSERVER "10"',
    'MEASUREMENT_CONDITION "M2"', 'MEASUREMENT_GEOMETRY "45/0"',
    "BEGIN_DATA_FORMAT",
    "\t".join(["SAMPLE_NAME"] + [f"R_{nm}" for nm in WL] + ["LAB_L", "LAB_A", "LAB_B"]),
    "END_DATA_FORMAT", "BEGIN_DATA", *rows, "END_DATA", ""]), newline="\r\n")

# 4. XYZ only, the white declared (D50/2°), with colour-science's CIELAB kept aside as a comment.
rows = []
labs = []
for (pid, name, v), cmyk in zip(P, CMYK):
    xyz, lab = xyz_lab(v, "D50", "1931_2deg")
    rows.append(f"{pid} {' '.join(str(c) for c in cmyk)} {xyz[0]:.5f} {xyz[1]:.5f} {xyz[2]:.5f}")
    labs.append(f"# {pid} {lab[0]:.5f} {lab[1]:.5f} {lab[2]:.5f}")
write("lookalike_xyz_only.cgats", "\n".join([
    "CGATS.17",
    'ORIGINATOR "ecsp look-alike: XYZ only"',
    'ILLUMINATION_NAME "D50"', 'OBSERVER_ANGLE "2"', 'MEASUREMENT_CONDITION "M1"',
    "NUMBER_OF_FIELDS 8", "BEGIN_DATA_FORMAT",
    "SAMPLE_ID CMYK_C CMYK_M CMYK_Y CMYK_K XYZ_X XYZ_Y XYZ_Z", "END_DATA_FORMAT",
    f"NUMBER_OF_SETS {len(P)}", "BEGIN_DATA", *rows, "END_DATA",
    "# colour-science CIELAB (D50/2°) of each patch, for the test:", *labs, ""]))

# 5. An ISO TC130-style reference in Latin-1 with CRLF: free-text geometry, SAMPLE_LOC ids,
#    a NUMBER_OF_FIELDS that disagrees with the data format, CMYK + CIELAB.
rows = []
for (pid, name, v), cmyk in zip(P, CMYK):
    _, lab = xyz_lab(v, "D50", "1931_2deg")
    loc = "ABCD"[(int(pid) - 1) // 6] + str((int(pid) - 1) % 6 + 1)
    rows.append(f"{loc} {' '.join(str(c) for c in cmyk)} {lab[0]:.2f} {lab[1]:.2f} {lab[2]:.2f}")
write("lookalike_iso_reference_latin1.txt", "\r\n".join([
    "CGATS.17",
    'ORIGINATOR "ISO/TC 130 look-alike, Prüfdruck Referenz"',
    'CREATED "March 5, 2024"',
    'MEASUREMENT_SOURCE "Illumination=D50 ObserverAngle=2° WhiteBase=Abs Filter=No"',
    'MEASUREMENT_GEOMETRY "ISO 13655 - Reflection, M1"',
    'KEYWORD "SAMPLE_BACKING"', 'SAMPLE_BACKING "black"',
    "NUMBER_OF_FIELDS 11", "BEGIN_DATA_FORMAT",
    "SAMPLE_LOC CMYK_C CMYK_M CMYK_Y CMYK_K LAB_L LAB_A LAB_B", "END_DATA_FORMAT",
    f"NUMBER_OF_SETS {len(P)}", "BEGIN_DATA", *rows, "END_DATA", ""]), encoding="latin-1")

# 6. CxF3 from an instrument that measures M0, M1 and M2 at once: three measurement
#    specifications, three spectra per object, CIELAB for two tristimulus specifications.
def m2(v):  # UV excluded: less brightener emission below 460 nm
    return [x * (0.93 if nm < 460 else 1.0) for nm, x in zip(WL, v)]


objects = []
for (pid, name, v), cmyk in zip(P, CMYK):
    _, lab50 = xyz_lab(v, "D50", "1931_2deg")
    _, lab65 = xyz_lab(v, "D65", "1964_10deg")
    objects.append(f"""      <cc:Object ObjectType="Standard" Name="{name}" Id="p{pid}">
        <cc:ColorValues>
          <cc:ReflectanceSpectrum ColorSpecification="M0" StartWL="380">{' '.join(f'{x:.5f}' for x in v)}</cc:ReflectanceSpectrum>
          <cc:ReflectanceSpectrum ColorSpecification="M1" StartWL="380">{' '.join(f'{x:.5f}' for x in v)}</cc:ReflectanceSpectrum>
          <cc:ReflectanceSpectrum ColorSpecification="M2" StartWL="380">{' '.join(f'{x:.5f}' for x in m2(v))}</cc:ReflectanceSpectrum>
          <cc:ColorCIELab ColorSpecification="Lab-D50-2"><cc:L>{lab50[0]:.4f}</cc:L><cc:A>{lab50[1]:.4f}</cc:A><cc:B>{lab50[2]:.4f}</cc:B></cc:ColorCIELab>
          <cc:ColorCIELab ColorSpecification="Lab-D65-10"><cc:L>{lab65[0]:.4f}</cc:L><cc:A>{lab65[1]:.4f}</cc:A><cc:B>{lab65[2]:.4f}</cc:B></cc:ColorCIELab>
          <cc:ColorCMYK ColorSpecification="Lab-D50-2"><cc:Cyan>{cmyk[0]}</cc:Cyan><cc:Magenta>{cmyk[1]}</cc:Magenta><cc:Yellow>{cmyk[2]}</cc:Yellow><cc:Black>{cmyk[3]}</cc:Black></cc:ColorCMYK>
        </cc:ColorValues>
      </cc:Object>""")


def spec(cid, device):
    return f"""      <cc:ColorSpecification Id="{cid}">
        <cc:MeasurementSpec>
          <cc:MeasurementType>Spectrum_Reflectance</cc:MeasurementType>
          <cc:GeometryChoice><cc:SingleAngle><cc:IlluminationAngle>45</cc:IlluminationAngle><cc:MeasurementAngle>0</cc:MeasurementAngle></cc:SingleAngle></cc:GeometryChoice>
          <cc:WavelengthRange StartWL="380" Increment="10"/>
          <cc:Device><cc:Model>i1Pro 3 (look-alike)</cc:Model><cc:DeviceIllumination>{device}</cc:DeviceIllumination></cc:Device>
        </cc:MeasurementSpec>
      </cc:ColorSpecification>"""


tri = lambda cid, ill, obs: f"""      <cc:ColorSpecification Id="{cid}">
        <cc:TristimulusSpec><cc:Illuminant>{ill}</cc:Illuminant><cc:Observer>{obs}_Degree</cc:Observer><cc:Method>E308_Table5</cc:Method></cc:TristimulusSpec>
      </cc:ColorSpecification>"""
write("lookalike_cxf_three_conditions.cxf", "\n".join([
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<cc:CxF xmlns:cc="http://colorexchangeformat.com/CxF3-core">',
    "  <cc:FileInformation><cc:Creator>ecsp look-alike of an M0/M1/M2 CxF3 export</cc:Creator><cc:CreationDate>2024-03-05T09:30:00Z</cc:CreationDate></cc:FileInformation>",
    "  <cc:Resources>", "    <cc:ObjectCollection>", *objects, "    </cc:ObjectCollection>",
    "    <cc:ColorSpecificationCollection>",
    spec("M0", "M0_Incandescent"), spec("M1", "M1_Part1"), spec("M2", "M2_UVExcluded"),
    tri("Lab-D50-2", "D50", 2), tri("Lab-D65-10", "D65", 10),
    "    </cc:ColorSpecificationCollection>", "  </cc:Resources>", "</cc:CxF>", ""]))
