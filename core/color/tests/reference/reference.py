"""Independent reference values for ecsp-color's tests and benchmark, from colour-science and
python-colormath (installed by scripts/setup-python.sh).

Usage: reference.py INPUT.json  -> JSON on stdout
Input:  {"data_dir": ".../core/color/data",
         "spectra": {"start_nm": 380, "interval_nm": 10, "values": [[...], ...]},
         "pairs": [[L1, a1, b1, L2, a2, b2], ...]}
Output: {"xyz": {"D50_2": [[X,Y,Z],...], "D65_10": ...}, "lab": {...},
         "de94_graphic_arts": [...], "de94_textiles": [...], "cmc_2_1": [...], "cmc_1_1": [...],
         "de2000": [...], "density": {"T": [[r,g,b,v],...], "E": [...]}}
The CIE tables are ecsp-color's own data files, so the comparison is of the algorithms.
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import colour  # noqa: E402
from colour.colorimetry import sd_to_XYZ_ASTME308  # noqa: E402


def table(path):
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    return rows[:, 0], rows[:, 1:]


def main():
    inp = json.load(open(sys.argv[1]))
    d = inp["data_dir"]
    out = {"xyz": {}, "lab": {}}
    sp = inp.get("spectra")
    if sp:
        wl = sp["start_nm"] + sp["interval_nm"] * np.arange(len(sp["values"][0]))
        for ill, obs, key in [("D50", "1931_2deg", "D50_2"), ("D65", "1964_10deg", "D65_10")]:
            cw, cv = table(f"{d}/cie{obs}_1nm.csv")
            keep = (cw >= 360) & (cw <= 780)
            cmfs = colour.MultiSpectralDistributions(dict(zip(cw[keep], cv[keep])))
            iw, iv = table(f"{d}/illuminant_{ill}_1nm.csv")
            keep = (iw >= 360) & (iw <= 780)
            illum = colour.SpectralDistribution(dict(zip(iw[keep], iv[keep, 0])))
            white = sd_to_XYZ_ASTME308(colour.SpectralDistribution(dict(zip(wl, np.ones(len(wl))))), cmfs, illum)
            xyzs, labs = [], []
            for vals in sp["values"]:
                sd = colour.SpectralDistribution(dict(zip(wl, vals)))
                xyz = sd_to_XYZ_ASTME308(sd, cmfs, illum)
                xyzs.append(list(xyz))
                labs.append(list(colour.XYZ_to_Lab(xyz / 100, colour.XYZ_to_xy(white / 100))))
            out["xyz"][key] = xyzs
            out["lab"][key] = labs
        # ISO 5-3 densities with python-colormath, the spectrum held flat beyond its ends.
        from colormath import density_standards as ds
        from colormath.density import ansi_density

        class Spectral:
            def __init__(self, v):
                self.v = v

            def get_numpy_array(self):
                return self.v

        out["density"] = {}
        grid = np.arange(340, 840, 10)
        for status, names in [("T", ["ANSI_STATUS_T_RED", "ANSI_STATUS_T_GREEN", "ANSI_STATUS_T_BLUE"]),
                              ("E", ["ANSI_STATUS_E_RED", "ANSI_STATUS_E_GREEN", "ANSI_STATUS_E_BLUE"])]:
            rows = []
            for vals in sp["values"]:
                full = Spectral(np.interp(grid, wl, vals))
                rows.append([ansi_density(full, getattr(ds, n)) for n in names] + [ansi_density(full, ds.ISO_VISUAL)])
            out["density"][status] = rows
    pairs = np.array(inp.get("pairs", []), dtype=float)
    if len(pairs):
        a, b = pairs[:, :3], pairs[:, 3:]
        out["de94_graphic_arts"] = colour.delta_E(a, b, method="CIE 1994", textiles=False).tolist()
        out["de94_textiles"] = colour.delta_E(a, b, method="CIE 1994", textiles=True).tolist()
        out["cmc_2_1"] = colour.delta_E(a, b, method="CMC", l=2, c=1).tolist()
        out["cmc_1_1"] = colour.delta_E(a, b, method="CMC", l=1, c=1).tolist()
        out["de2000"] = colour.delta_E(a, b, method="CIE 2000").tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
