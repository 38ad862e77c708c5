package org.internlmj.tensor.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Packs a slice of a GEMM operand into the layout its micro-kernel reads: a micro-panel of
 * {@code width} lanes and {@code kc} steps, {@code dst[o + k*width + w]}, lanes past the operand's
 * edge zero. Rows of A and columns of B are both "lanes" here, so one routine packs either; the source
 * may be any strided view of F32, BF16 or F16 data, so transposes and 16-bit inputs cost only this
 * copy and every layout runs the same micro-kernel.
 */
final class GemmPacking {
    private static final VectorSpecies<Float> S = GemmKernels.S;
    private static final int L = GemmKernels.L;
    private static final int NR = GemmKernels.NR;
    /** Shorts of one float vector's lane count, and ints of its width, for the BF16 widening. */
    private static final VectorSpecies<Short> S16 = VectorSpecies.of(short.class,
            VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> S32 = VectorSpecies.of(int.class, S.vectorShape());

    private GemmPacking() {
    }

    /**
     * {@code dst[o + k*width + w] = src(w, k)} for {@code k < kc}, {@code w < valid}; zero for
     * {@code valid <= w < width}. Element {@code (w, k)} of the source is at
     * {@code base + w*laneStride + k*kStride} of {@code op}'s array.
     */
    static void pack(Gemm.Operand op, int base, int laneStride, int kStride, int valid, int width, int kc,
                     float[] dst, int o) {
        if (op.f32() != null) {
            packF32(op.f32(), base, laneStride, kStride, valid, width, kc, dst, o);
        } else {
            pack16(op.bits(), op.bf16(), base, laneStride, kStride, valid, width, kc, dst, o);
        }
        if (valid < width) {
            for (int k = 0; k < kc; k++) {
                Arrays.fill(dst, o + k * width + valid, o + (k + 1) * width, 0f);
            }
        }
    }

    private static void packF32(float[] src, int base, int ls, int ks, int valid, int width, int kc, float[] dst, int o) {
        if (ls == 1 && valid == NR && width == NR) {
            // B in its natural layout: each k step is two vector copies.
            for (int k = 0; k < kc; k++) {
                int s = base + k * ks;
                int d = o + k * NR;
                FloatVector.fromArray(S, src, s).intoArray(dst, d);
                FloatVector.fromArray(S, src, s + L).intoArray(dst, d + L);
            }
        } else if (ls == 1 && valid <= L) {
            // A transposed: 12 (or fewer) contiguous floats per k step, one masked vector each.
            VectorMask<Float> mask = S.indexInRange(0, valid);
            for (int k = 0; k < kc; k++) {
                FloatVector.fromArray(S, src, base + k * ks, mask).intoArray(dst, o + k * width, mask);
            }
        } else if (ls == 1) {
            for (int k = 0; k < kc; k++) {
                System.arraycopy(src, base + k * ks, dst, o + k * width, valid);
            }
        } else if (ks == 1) {
            // Lanes are rows of the source (A as stored, or B transposed). Four rows at a time, read
            // along k: four streams keep enough loads in flight when the rows come from memory (twice
            // as fast as one row at a time here), and each k step writes four adjacent floats.
            int w = 0;
            for (; w + 4 <= valid; w += 4) {
                int s0 = base + w * ls;
                int s1 = s0 + ls;
                int s2 = s1 + ls;
                int s3 = s2 + ls;
                int d = o + w;
                for (int k = 0; k < kc; k++) {
                    int e = d + k * width;
                    dst[e] = src[s0 + k];
                    dst[e + 1] = src[s1 + k];
                    dst[e + 2] = src[s2 + k];
                    dst[e + 3] = src[s3 + k];
                }
            }
            for (; w < valid; w++) {
                int s = base + w * ls;
                int d = o + w;
                for (int k = 0; k < kc; k++) {
                    dst[d + k * width] = src[s + k];
                }
            }
        } else {
            for (int k = 0; k < kc; k++) {
                int s = base + k * ks;
                int d = o + k * width;
                for (int w = 0; w < valid; w++) {
                    dst[d + w] = src[s + w * ls];
                }
            }
        }
    }

    private static void pack16(short[] src, boolean bf16, int base, int ls, int ks, int valid, int width, int kc,
                               float[] dst, int o) {
        if (ls == 1 && bf16 && valid == NR && width == NR) {
            for (int k = 0; k < kc; k++) {
                int s = base + k * ks;
                int d = o + k * NR;
                bf16ToFloats(src, s).intoArray(dst, d);
                bf16ToFloats(src, s + L).intoArray(dst, d + L);
            }
        } else if (ls == 1) {
            for (int k = 0; k < kc; k++) {
                int s = base + k * ks;
                int d = o + k * width;
                for (int w = 0; w < valid; w++) {
                    dst[d + w] = toFloat(src[s + w], bf16);
                }
            }
        } else if (ks == 1) {
            int w = 0;
            for (; w + 4 <= valid; w += 4) {
                int s0 = base + w * ls;
                int s1 = s0 + ls;
                int s2 = s1 + ls;
                int s3 = s2 + ls;
                int d = o + w;
                for (int k = 0; k < kc; k++) {
                    int e = d + k * width;
                    dst[e] = toFloat(src[s0 + k], bf16);
                    dst[e + 1] = toFloat(src[s1 + k], bf16);
                    dst[e + 2] = toFloat(src[s2 + k], bf16);
                    dst[e + 3] = toFloat(src[s3 + k], bf16);
                }
            }
            for (; w < valid; w++) {
                int s = base + w * ls;
                int d = o + w;
                for (int k = 0; k < kc; k++) {
                    dst[d + k * width] = toFloat(src[s + k], bf16);
                }
            }
        } else {
            for (int k = 0; k < kc; k++) {
                int s = base + k * ks;
                int d = o + k * width;
                for (int w = 0; w < valid; w++) {
                    dst[d + w] = toFloat(src[s + w * ls], bf16);
                }
            }
        }
    }

    /** L bf16 values from {@code src[s]} widened exactly to floats (bf16 is the top half of a float). */
    private static FloatVector bf16ToFloats(short[] src, int s) {
        return (FloatVector) ShortVector.fromArray(S16, src, s)
                .convertShape(VectorOperators.S2I, S32, 0)
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    /** One BF16 or F16 value as a float (exact). */
    static float toFloat(short bits, boolean bf16) {
        return bf16 ? Float.intBitsToFloat(bits << 16) : Float.float16ToFloat(bits);
    }
}
