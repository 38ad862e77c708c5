package org.internlmj.trainer.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;
import org.junit.jupiter.api.Test;

class GemmBenchTest {

    @Test
    void shapesParse() {
        assertEquals(new GemmBench.Shape(64, 64, 64, false, false), GemmBench.Shape.parse("64"));
        assertEquals(new GemmBench.Shape(4096, 768, 3072, false, true), GemmBench.Shape.parse("4096x768x3072:nt"));
        assertEquals("3x5x7 TN", GemmBench.Shape.parse(" 3X5X7 : TN ").toString());
        assertThrows(IllegalArgumentException.class, () -> GemmBench.Shape.parse("0"));
        assertThrows(IllegalArgumentException.class, () -> GemmBench.Shape.parse("4x4x4:NTN"));
        assertThrows(IllegalArgumentException.class, () -> GemmBench.Shape.parse("axbxc"));
    }

    @Test
    void defaultShapesAreTheSquaresAndEachLinearsThreeGemms() {
        List<GemmBench.Shape> shapes = GemmBench.defaultShapes();
        assertEquals(4 + 4 * 3, shapes.size());
        assertEquals(shapes.size(), new HashSet<>(shapes).size(), "duplicate shapes");
        // the qkv projection 768 -> 2304 over 4096 tokens: forward, input gradient, weight gradient
        assertTrue(shapes.contains(GemmBench.Shape.parse("4096x2304x768:NT")));
        assertTrue(shapes.contains(GemmBench.Shape.parse("4096x768x2304:NN")));
        assertTrue(shapes.contains(GemmBench.Shape.parse("2304x768x4096:TN")));
    }

    @Test
    void missingOpenBlasSaysWhereItLookedAndHowToInstallIt() {
        NativeLibrary.Spec absent = NativeLibrary.Spec.of("OpenBLAS", "libopenblas-not-installed-here.so.0");
        NativeLibraryException e = assertThrows(NativeLibraryException.class, () -> GemmBench.requireOpenBlas(absent));
        assertTrue(e.getMessage().contains("looked in"), e.getMessage());
        assertTrue(e.getMessage().contains("apt-get install libopenblas0-pthread"), e.getMessage());
    }
}
