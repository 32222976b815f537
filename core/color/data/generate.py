"""Regenerates the CIE data files of this folder from colour-science's copies of the CIE tables.

Run once by a maintainer (`pip install colour-science==0.4.7 colormath==3.0.0`); the outputs are
committed, so nothing here runs at build or test time.

Sources (see SOURCES.md): CIE 015:2018 / ISO 11664-1,-2 tables as carried by colour-science 0.4.7
(colour/colorimetry/datasets); ISO 5-3:2009 density spectral products as carried by
python-colormath 3.0 (colormath/density_standards.py).
"""
import numpy as np
import colour
import colormath.density_standards as ds

def write(name, header, rows, fmt):
    with open(name, "w") as f:
        f.write(header + "\n")
        for r in rows:
            f.write(",".join(fmt(v) for v in r) + "\n")

nm = np.arange(360, 831)
for key, out in [("CIE 1931 2 Degree Standard Observer", "cie1931_2deg_1nm.csv"),
                 ("CIE 1964 10 Degree Standard Observer", "cie1964_10deg_1nm.csv")]:
    cmf = colour.MSDS_CMFS[key]
    rows = [(int(w), *cmf[w]) for w in nm]
    write(out, "nm,x_bar,y_bar,z_bar", rows, lambda v: str(v) if isinstance(v, int) else f"{v:.6e}")

# Illuminant A: CIE 015 defining formula, exact at any wavelength.
def illuminant_a(w):
    c2 = 1.435e-2
    return 100 * (560 / w) ** 5 * (np.exp(c2 / (2848 * 560e-9)) - 1) / (np.exp(c2 / (2848 * w * 1e-9)) - 1)

nm_ill = np.arange(300, 781)
write("illuminant_A_1nm.csv", "nm,relative_power", [(int(w), illuminant_a(w)) for w in nm_ill],
      lambda v: str(v) if isinstance(v, int) else f"{v:.6f}")

# D50 and D65: the CIE 5 nm tables, linearly interpolated to 1 nm as CIE 015 prescribes.
for key, out in [("D50", "illuminant_D50_1nm.csv"), ("D65", "illuminant_D65_1nm.csv")]:
    sd = colour.SDS_ILLUMINANTS[key]
    w5 = sd.wavelengths
    v5 = sd.values
    rows = [(int(w), float(np.interp(w, w5, v5))) for w in nm_ill]
    write(out, "nm,relative_power", rows, lambda v: str(v) if isinstance(v, int) else f"{v:.6f}")

# ISO 5-3 spectral products (linear, peak 100), 340-830 nm at 10 nm.
cols = ["ANSI_STATUS_T_RED", "ANSI_STATUS_T_GREEN", "ANSI_STATUS_T_BLUE",
        "ANSI_STATUS_E_RED", "ANSI_STATUS_E_GREEN", "ANSI_STATUS_E_BLUE", "ISO_VISUAL"]
rows = [(340 + 10 * i, *[float(getattr(ds, c)[i]) for c in cols]) for i in range(50)]
write("iso5-3_density_10nm.csv", "nm,status_t_red,status_t_green,status_t_blue,status_e_red,status_e_green,status_e_blue,visual",
      rows, lambda v: str(v) if isinstance(v, int) else f"{v:.6g}")
