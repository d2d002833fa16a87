"""Star r=1, star r=2 and box r=1 stencils on up to four output rows in one pass.

One core of a modern CPU can stream nearly the whole memory bandwidth (here the
triad reaches 41-46 GB/s on one core), so a stencil with one output row per pass
is limited by the loads it issues per point, not by memory: star r=2 issues ten
(nine taps and the output). Four output rows per pass ("unroll and jam") share
the rows they all read: star r=2 then issues seven loads per point, box r=1 five
and a half instead of ten, star r=1 four and a half instead of six. Measured on
one core (benchmarks/kernel_bandwidth.py, % of the triad, medians of 5 runs):
star r=2 60 -> 74, box r=1 62 -> 79, star r=1 80 -> 87; the PRK stencil job
(n=8000, r=2) 14.4 -> 18.2 GFlop/s on one rank.

Every output point is computed by the same expression, in the same order,
whichever block it falls in, so results do not depend on the row blocking or the
thread split. ``rows < 4`` (the last block) takes the one-row loop.
"""

from ._jit import njit_cached
from ._prefetch import prefetch_range

__all__ = ["BLOCK_ROWS", "box1_rows", "prefetch_next_block", "star1_rows", "star2_rows"]

BLOCK_ROWS = 4  # output rows per pass


@njit_cached
def prefetch_next_block(a, out, i, r, block):
    """Hint the rows the block after the one at row ``i`` reads first from memory.

    With ``block`` output rows per block (4 here, 2 or 3 in ``_stencil_radius``), those are
    rows ``i+block+r .. i+2*block+r-1`` of ``a`` and ``i+block .. i+2*block-1`` of ``out``
    (32 KiB each for a 4096-wide float64 row), hinted whole just before this block starts;
    they arrive while it computes. Both are needed: either alone was slower than
    none. Measured on one core (star r=1 and r=2, 2048x4096): 8 % faster; hinting in
    row segments as the diffusion step does was twice as slow here (each segment
    re-creates 36 row views and LLVM's overlap checks between them). Not for
    float32 input: its stencils are bound by the conversions to float64, and the
    hints made them 3-8 % slower.
    """
    if a.itemsize < 8:
        return
    n0, n1 = a.shape
    for q in range(block):
        if i + block + r + q < n0:
            prefetch_range(a[i + block + r + q], 0, n1)
        if i + block + q < n0:
            prefetch_range(out[i + block + q], 0, n1)


@njit_cached
def star1_rows(a, w, out, i, rows):
    """``out[i:i+rows, 1:-1] += star r=1 of a`` (``rows <= 4``; ghost width 1)."""
    hi = a.shape[1] - 1
    m = hi - 1
    wc, ww, we, wn, ws = w[1, 1], w[1, 0], w[1, 2], w[0, 1], w[2, 1]
    if rows == 4:
        o0, o1, o2, o3 = out[i, 1:hi], out[i + 1, 1:hi], out[i + 2, 1:hi], out[i + 3, 1:hi]
        vm, v0, v1 = a[i - 1, 1:hi], a[i, 1:hi], a[i + 1, 1:hi]
        v2, v3, v4 = a[i + 2, 1:hi], a[i + 3, 1:hi], a[i + 4, 1:hi]
        w0, e0 = a[i, 0:hi - 1], a[i, 2:hi + 1]
        w1, e1 = a[i + 1, 0:hi - 1], a[i + 1, 2:hi + 1]
        w2, e2 = a[i + 2, 0:hi - 1], a[i + 2, 2:hi + 1]
        w3, e3 = a[i + 3, 0:hi - 1], a[i + 3, 2:hi + 1]
        for j in range(m):
            cm, c0, c1, c2, c3, c4 = vm[j], v0[j], v1[j], v2[j], v3[j], v4[j]
            o0[j] += wc * c0 + ((ww * w0[j] + we * e0[j]) + (wn * cm + ws * c1))
            o1[j] += wc * c1 + ((ww * w1[j] + we * e1[j]) + (wn * c0 + ws * c2))
            o2[j] += wc * c2 + ((ww * w2[j] + we * e2[j]) + (wn * c1 + ws * c3))
            o3[j] += wc * c3 + ((ww * w3[j] + we * e3[j]) + (wn * c2 + ws * c4))
        return
    for k in range(i, i + rows):
        o, vn, vc, vs = out[k, 1:hi], a[k - 1, 1:hi], a[k, 1:hi], a[k + 1, 1:hi]
        vw, ve = a[k, 0:hi - 1], a[k, 2:hi + 1]
        for j in range(m):
            o[j] += wc * vc[j] + ((ww * vw[j] + we * ve[j]) + (wn * vn[j] + ws * vs[j]))


@njit_cached
def star2_rows(a, w, out, i, rows):
    """``out[i:i+rows, 2:-2] += star r=2 of a`` (``rows <= 4``; ghost width 2)."""
    hi = a.shape[1] - 2
    m = hi - 2
    wc = w[2, 2]
    w1w, w1e, w1n, w1s = w[2, 1], w[2, 3], w[1, 2], w[3, 2]
    w2w, w2e, w2n, w2s = w[2, 0], w[2, 4], w[0, 2], w[4, 2]
    if rows == 4:
        o0, o1, o2, o3 = out[i, 2:hi], out[i + 1, 2:hi], out[i + 2, 2:hi], out[i + 3, 2:hi]
        vm2, vm1, v0, v1 = a[i - 2, 2:hi], a[i - 1, 2:hi], a[i, 2:hi], a[i + 1, 2:hi]
        v2, v3, v4, v5 = a[i + 2, 2:hi], a[i + 3, 2:hi], a[i + 4, 2:hi], a[i + 5, 2:hi]
        ww0, w0, e0, ee0 = a[i, 0:hi - 2], a[i, 1:hi - 1], a[i, 3:hi + 1], a[i, 4:hi + 2]
        ww1, w1, e1, ee1 = (a[i + 1, 0:hi - 2], a[i + 1, 1:hi - 1], a[i + 1, 3:hi + 1],
                            a[i + 1, 4:hi + 2])
        ww2, w2, e2, ee2 = (a[i + 2, 0:hi - 2], a[i + 2, 1:hi - 1], a[i + 2, 3:hi + 1],
                            a[i + 2, 4:hi + 2])
        ww3, w3, e3, ee3 = (a[i + 3, 0:hi - 2], a[i + 3, 1:hi - 1], a[i + 3, 3:hi + 1],
                            a[i + 3, 4:hi + 2])
        for j in range(m):
            cm2, cm1, c0, c1 = vm2[j], vm1[j], v0[j], v1[j]
            c2, c3, c4, c5 = v2[j], v3[j], v4[j], v5[j]
            o0[j] += (wc * c0 + ((w1w * w0[j] + w1e * e0[j]) + (w1n * cm1 + w1s * c1))
                      + ((w2w * ww0[j] + w2e * ee0[j]) + (w2n * cm2 + w2s * c2)))
            o1[j] += (wc * c1 + ((w1w * w1[j] + w1e * e1[j]) + (w1n * c0 + w1s * c2))
                      + ((w2w * ww1[j] + w2e * ee1[j]) + (w2n * cm1 + w2s * c3)))
            o2[j] += (wc * c2 + ((w1w * w2[j] + w1e * e2[j]) + (w1n * c1 + w1s * c3))
                      + ((w2w * ww2[j] + w2e * ee2[j]) + (w2n * c0 + w2s * c4)))
            o3[j] += (wc * c3 + ((w1w * w3[j] + w1e * e3[j]) + (w1n * c2 + w1s * c4))
                      + ((w2w * ww3[j] + w2e * ee3[j]) + (w2n * c1 + w2s * c5)))
        return
    for k in range(i, i + rows):
        o = out[k, 2:hi]
        vn2, vn1, vc, vs1, vs2 = (a[k - 2, 2:hi], a[k - 1, 2:hi], a[k, 2:hi], a[k + 1, 2:hi],
                                  a[k + 2, 2:hi])
        vww, vw, ve, vee = a[k, 0:hi - 2], a[k, 1:hi - 1], a[k, 3:hi + 1], a[k, 4:hi + 2]
        for j in range(m):
            o[j] += (wc * vc[j] + ((w1w * vw[j] + w1e * ve[j]) + (w1n * vn1[j] + w1s * vs1[j]))
                     + ((w2w * vww[j] + w2e * vee[j]) + (w2n * vn2[j] + w2s * vs2[j])))


@njit_cached
def box1_rows(a, w, out, i, rows):
    """``out[i:i+rows, 1:-1] += box r=1 of a`` (``rows <= 4``; ghost width 1)."""
    hi = a.shape[1] - 1
    m = hi - 1
    w00, w01, w02 = w[0, 0], w[0, 1], w[0, 2]
    w10, w11, w12 = w[1, 0], w[1, 1], w[1, 2]
    w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
    if rows == 4:
        o0, o1, o2, o3 = out[i, 1:hi], out[i + 1, 1:hi], out[i + 2, 1:hi], out[i + 3, 1:hi]
        # a[i-1 .. i+4]: west, centre and east views of each of the six rows read
        aw, ac, ae = a[i - 1, 0:m], a[i - 1, 1:hi], a[i - 1, 2:hi + 1]
        bw, bc, be = a[i, 0:m], a[i, 1:hi], a[i, 2:hi + 1]
        cw, cc, ce = a[i + 1, 0:m], a[i + 1, 1:hi], a[i + 1, 2:hi + 1]
        dw, dc, de = a[i + 2, 0:m], a[i + 2, 1:hi], a[i + 2, 2:hi + 1]
        ew, ec, ee = a[i + 3, 0:m], a[i + 3, 1:hi], a[i + 3, 2:hi + 1]
        fw, fc, fe = a[i + 4, 0:m], a[i + 4, 1:hi], a[i + 4, 2:hi + 1]
        for j in range(m):
            # north (w0*), centre (w1*) and south (w2*) parts of each row that needs them
            bn = (w00 * bw[j] + w01 * bc[j]) + w02 * be[j]
            cn = (w00 * cw[j] + w01 * cc[j]) + w02 * ce[j]
            dn = (w00 * dw[j] + w01 * dc[j]) + w02 * de[j]
            bm = (w10 * bw[j] + w11 * bc[j]) + w12 * be[j]
            cm = (w10 * cw[j] + w11 * cc[j]) + w12 * ce[j]
            dm = (w10 * dw[j] + w11 * dc[j]) + w12 * de[j]
            em = (w10 * ew[j] + w11 * ec[j]) + w12 * ee[j]
            cs = (w20 * cw[j] + w21 * cc[j]) + w22 * ce[j]
            ds = (w20 * dw[j] + w21 * dc[j]) + w22 * de[j]
            es = (w20 * ew[j] + w21 * ec[j]) + w22 * ee[j]
            o0[j] += (((w00 * aw[j] + w01 * ac[j]) + w02 * ae[j]) + bm) + cs
            o1[j] += (bn + cm) + ds
            o2[j] += (cn + dm) + es
            o3[j] += (dn + em) + ((w20 * fw[j] + w21 * fc[j]) + w22 * fe[j])
        return
    for k in range(i, i + rows):
        o = out[k, 1:hi]
        nw, nc, ne = a[k - 1, 0:m], a[k - 1, 1:hi], a[k - 1, 2:hi + 1]
        cw, cc, ce = a[k, 0:m], a[k, 1:hi], a[k, 2:hi + 1]
        sw, sc, se = a[k + 1, 0:m], a[k + 1, 1:hi], a[k + 1, 2:hi + 1]
        for j in range(m):
            o[j] += ((((w00 * nw[j] + w01 * nc[j]) + w02 * ne[j])
                      + ((w10 * cw[j] + w11 * cc[j]) + w12 * ce[j]))
                     + ((w20 * sw[j] + w21 * sc[j]) + w22 * se[j]))
