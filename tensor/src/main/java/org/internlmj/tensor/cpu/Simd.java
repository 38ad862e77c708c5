package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species every CPU kernel uses: the preferred (widest) one by default, or the width set
 * with {@code -Dinternlmj.vector.bits=256|512} (llama3.java found 512-bit lanes slower than 256-bit
 * on some CPUs: measure both).
 */
public final class Simd {
    /** Float species of the configured width. */
    public static final VectorSpecies<Float> F = floatSpecies();

    /** Number of float lanes. */
    public static final int LANES = F.length();

    private Simd() {
    }

    private static VectorSpecies<Float> floatSpecies() {
        String bits = System.getProperty("internlmj.vector.bits");
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        VectorSpecies<Float> s = switch (bits.trim()) {
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException("internlmj.vector.bits must be 128, 256 or 512, got '"
                    + bits + "'");
        };
        int max = VectorShape.preferredShape().vectorBitSize();
        if (s.vectorBitSize() > max) {
            // wider than the JIT compiles: the Vector API would fall back to Java code, tens of times slower
            throw new IllegalArgumentException("internlmj.vector.bits=" + bits + " is wider than the " + max
                    + "-bit vectors this JVM compiles; on AVX-512 CPUs start the JVM with -XX:UseAVX=3 "
                    + "(./internlmj does where the CPU has avx512f)");
        }
        return s;
    }

    /** "512-bit (16 float lanes)". */
    public static String describe() {
        return F.vectorBitSize() + "-bit (" + LANES + " float lanes; preferred on this CPU: "
                + VectorShape.preferredShape().vectorBitSize() + "-bit)";
    }
}
