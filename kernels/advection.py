"""First-order upwind advection step of a 2-D field with cell-centred Courant numbers."""

from numba import prange

from ._checks import check_array, check_disjoint, check_same_shape
from ._jit import serial_and_parallel

__all__ = ["upwind_step", "upwind_step_parallel", "upwind_step_serial"]


def _upwind_body(q, cx, cy, out):
    """Jitted upwind step writing ``out``'s interior (no checks).

    See :func:`upwind_step` for the scheme and the arguments.

    Parameters
    ----------
    q, out : numpy.ndarray
        Ghosted ``(ny+2, nx+2)`` blocks (input, output).
    cx, cy : numpy.ndarray
        Courant numbers, shape ``(ny, nx)`` or ``(ny+2, nx+2)``.
    """
    ny = q.shape[0] - 2
    nx = q.shape[1] - 2
    ox = (cx.shape[0] - ny) // 2  # 0 for interior-shaped, 1 for ghosted-shaped
    oy = (cy.shape[0] - ny) // 2
    for k in prange(ny):
        i = k + 1
        qc = q[i, 1:nx + 1]
        qw = q[i, 0:nx]
        qe = q[i, 2:nx + 2]
        qn = q[i - 1, 1:nx + 1]
        qs = q[i + 1, 1:nx + 1]
        cxr = cx[k + ox, ox:nx + ox]
        cyr = cy[k + oy, oy:nx + oy]
        o = out[i, 1:nx + 1]
        for j in range(nx):
            x = qc[j]
            a = cxr[j]
            b = cyr[j]
            # every neighbour is loaded unconditionally and the difference selected
            # before the product: LLVM then emits plain loads and a blend, where a
            # product per branch made it mask the loads (1.45x slower on one core)
            w = qw[j]
            e = qe[j]
            n = qn[j]
            s = qs[j]
            dx = x - w if a > 0 else e - x
            dy = x - n if b > 0 else s - x
            o[j] = x - (a * dx + b * dy)


upwind_step_serial, upwind_step_parallel = serial_and_parallel(_upwind_body)


def upwind_step(q, cx, cy, out, *, parallel=False):
    """One first-order upwind (donor-cell, advective form) step, written into ``out``.

    ``q`` is a ghosted block with ghost width 1 (halos already filled); axis 1
    is x, axis 0 is y. ``cx = u*dt/dx`` and ``cy = v*dt/dy`` are cell-centred
    Courant numbers; positive ``cx`` moves ``q`` towards larger column
    index, positive ``cy`` towards larger row index. For interior cell
    ``(i, j)``::

        fx = cx*(q[i, j] - q[i, j-1])  if cx > 0  else  cx*(q[i, j+1] - q[i, j])
        fy = cy*(q[i, j] - q[i-1, j])  if cy > 0  else  cy*(q[i+1, j] - q[i, j])
        out[i, j] = q[i, j] - (fx + fy)

    with ``cx``, ``cy`` taken at the same cell. With ``|cx| + |cy| <= 1`` the
    new value is a convex combination of the old ones (monotone, stable).
    Only ``out``'s interior is written.

    Parameters
    ----------
    q : numpy.ndarray
        Ghosted ``(ny+2, nx+2)`` float32/float64 field.
    cx, cy : numpy.ndarray
        float32/float64 Courant numbers, each either interior-shaped
        ``(ny, nx)`` or ghosted-shaped ``(ny+2, nx+2)`` (then only the
        interior is read).
    out : numpy.ndarray
        Output of ``q``'s shape, not overlapping ``q``, ``cx`` or ``cy``.
    parallel : bool
        Use the threaded (``parallel=True``) variant.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Raises
    ------
    TypeError, ValueError
        On wrong types, dtypes, shapes or overlapping arrays.
    """
    check_array("q", q, ndim=2)
    check_array("out", out, ndim=2, writeable=True)
    check_same_shape("q", q, "out", out)
    if min(q.shape) < 3:
        raise ValueError(f"q must have at least 3 cells along each axis (1 interior + "
                         f"2 ghosts), got shape {q.shape}")
    interior = (q.shape[0] - 2, q.shape[1] - 2)
    for name, c in (("cx", cx), ("cy", cy)):
        check_array(name, c, ndim=2)
        if c.shape not in (interior, q.shape):
            raise ValueError(f"{name} must have the interior shape {interior} or the "
                             f"ghosted shape {q.shape}, got {c.shape}")
        check_disjoint(name, c, "out", out)
    check_disjoint("q", q, "out", out)
    (upwind_step_parallel if parallel else upwind_step_serial)(q, cx, cy, out)
    return out
