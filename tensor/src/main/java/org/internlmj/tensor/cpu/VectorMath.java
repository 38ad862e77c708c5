package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;

/**
 * A horizontal sum that gives the same bits whether or not the JIT has compiled the caller.
 *
 * <p>Why not {@code reduceLanes(ADD)}: once C2 compiles it, it may add the lanes in a different order
 * than the interpreted fallback (measured on Temurin 25: a kernel's first results differed from its
 * later ones), which breaks bit-identical runs. {@link VectorExp} is the matching {@code exp}.
 */
final class VectorMath {
    private VectorMath() {
    }

    /** Sum of the lanes, always in lane order (never reassociated by the compiler). */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }
}
