# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Cython mixer kernel; same contract and bit-identical output as `bridge.media.mix_py.mix`.

One accumulation pass sums every talker's frame into int32, then one pass per participant
subtracts the participant's own frame (if talking) and saturates to int16. Listeners who are
not talking all hear the same mix, so it is saturated once and copied.
"""

from libc.stdint cimport int16_t, int32_t, uintptr_t
from libc.string cimport memcpy, memset

from bridge.media.mix_py import check_sizes

cdef enum:
    FRAME_SAMPLES = 160
    FRAME_BYTES = 320


cdef inline int16_t _saturate(int32_t v) noexcept nogil:
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return <int16_t>v


cdef void _kernel(
    const int16_t* src,
    const unsigned char* talk,
    const unsigned char* hear,
    int16_t* dst,
    Py_ssize_t n,
) noexcept nogil:
    cdef int32_t total[FRAME_SAMPLES]
    cdef int16_t common[FRAME_SAMPLES]
    cdef const int16_t* row
    cdef int16_t* target
    cdef Py_ssize_t i, k
    cdef bint have_common = False

    memset(total, 0, sizeof(total))
    for i in range(n):
        if talk[i]:
            row = src + i * FRAME_SAMPLES
            for k in range(FRAME_SAMPLES):
                total[k] += row[k]

    for i in range(n):
        target = dst + i * FRAME_SAMPLES
        if not hear[i]:
            memset(target, 0, FRAME_BYTES)
        elif talk[i]:
            row = src + i * FRAME_SAMPLES
            for k in range(FRAME_SAMPLES):
                target[k] = _saturate(total[k] - row[k])
        else:
            if not have_common:
                for k in range(FRAME_SAMPLES):
                    common[k] = _saturate(total[k])
                have_common = True
            memcpy(target, common, FRAME_BYTES)


cdef inline bint _aligned(const void* p) noexcept nogil:
    return (<uintptr_t>p) % sizeof(int16_t) == 0


def mix(frames, speaking, hearing, out):
    """Write every participant's N-1 mix into `out` (see `bridge.media.mix_py`)."""
    src_view = memoryview(frames).cast("B")
    dst_view = memoryview(out).cast("B")
    if dst_view.readonly:
        raise TypeError("out must be writable")
    cdef const unsigned char[::1] talk = memoryview(speaking).cast("B")
    cdef const unsigned char[::1] hear = memoryview(hearing).cast("B")
    cdef Py_ssize_t n = check_sizes(src_view.nbytes, talk.shape[0], hear.shape[0], dst_view.nbytes)
    if n == 0:
        return

    cdef const unsigned char[::1] src = src_view
    cdef unsigned char[::1] dst = dst_view
    # Samples are read and written as int16: a buffer at an odd address goes through an
    # aligned copy (bytes and bytearray storage is always aligned, slices may not be).
    if not _aligned(&src[0]):
        src = bytes(src_view)
    scratch = None
    if not _aligned(&dst[0]):
        scratch = bytearray(dst_view.nbytes)
        dst = scratch

    with nogil:
        _kernel(<const int16_t*>&src[0], &talk[0], &hear[0], <int16_t*>&dst[0], n)

    if scratch is not None:
        dst_view[:] = scratch
