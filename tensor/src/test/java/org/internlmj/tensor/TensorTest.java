package org.internlmj.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorTest {

    private static Tensor iota(int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) {
            d[i] = i;
        }
        return Tensor.of(d, shape);
    }

    @Test
    void transposeIsAViewAndCopiesInLogicalOrder() {
        Tensor x = iota(2, 3);
        Tensor t = x.transpose(0, 1);
        assertArrayEquals(new int[] {3, 2}, t.shape());
        assertFalse(t.isContiguous());
        assertSame(x.storage(), t.storage());
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, t.toFloatArray());
        assertTrue(t.contiguous().isContiguous());
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, t.contiguous().toFloatArray());
    }

    @Test
    void permuteNarrowSelect() {
        Tensor x = iota(2, 3, 4);
        Tensor p = x.permute(2, 0, 1);
        assertArrayEquals(new int[] {4, 2, 3}, p.shape());
        assertEquals(x.get(1, 2, 3), p.get(3, 1, 2));
        Tensor n = x.narrow(2, 1, 2);
        assertArrayEquals(new int[] {2, 3, 2}, n.shape());
        assertEquals(x.get(1, 1, 2), n.get(1, 1, 1));
        Tensor s = x.select(1, 2);
        assertArrayEquals(new int[] {2, 4}, s.shape());
        assertEquals(x.get(1, 2, 3), s.get(1, 3));
    }

    @Test
    void reshapeInfersAndCopiesWhenNeeded() {
        Tensor x = iota(2, 3, 4);
        Tensor r = x.reshape(6, -1);
        assertArrayEquals(new int[] {6, 4}, r.shape());
        assertSame(x.storage(), r.storage());
        Tensor t = x.transpose(0, 2).reshape(-1);
        assertEquals(24, t.numel());
        assertEquals(x.get(0, 1, 0), t.get(2));
        assertEquals(x.get(1, 0, 0), t.get(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> x.reshape(5, -1));
        assertTrue(e.getMessage().contains("[2, 3, 4]"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> x.transpose(0, 1).view(-1));
    }

    @Test
    void expandBroadcastsWithZeroStrides() {
        Tensor b = Tensor.of(new float[] {1, 2, 3}, 3);
        Tensor e = b.expand(2, 3);
        assertArrayEquals(new int[] {0, 1}, e.strides());
        assertArrayEquals(new float[] {1, 2, 3, 1, 2, 3}, e.toFloatArray());
        Tensor col = Tensor.of(new float[] {1, 2}, 2, 1).expand(2, 3);
        assertArrayEquals(new float[] {1, 1, 1, 2, 2, 2}, col.toFloatArray());
        assertThrows(IllegalArgumentException.class, () -> b.expand(2, 4));
    }

    @Test
    void unsqueezeSqueeze() {
        Tensor x = iota(2, 3);
        assertArrayEquals(new int[] {2, 1, 3}, x.unsqueeze(1).shape());
        assertArrayEquals(new int[] {2, 3, 1}, x.unsqueeze(-1).shape());
        assertArrayEquals(new int[] {2, 3}, x.unsqueeze(0).squeeze(0).shape());
        assertThrows(IllegalArgumentException.class, () -> x.squeeze(0));
    }

    @Test
    void dtypeConversionRoundsAndRestores() {
        Tensor x = Tensor.of(new float[] {1.00390625f, -3.3f, 65519f}, 3);
        assertArrayEquals(new float[] {1.0f, DType.BF16.round(-3.3f), DType.BF16.round(65519f)},
                x.to(DType.BF16).toFloatArray());
        assertArrayEquals(new float[] {1.00390625f, DType.F16.round(-3.3f), 65504f}, x.to(DType.F16).toFloatArray());
        Tensor ids = Tensor.ofInts(new int[] {3, -1, 7}, 3);
        assertArrayEquals(new long[] {3, -1, 7}, ids.to(DType.I64).toLongArray());
    }

    @Test
    void viewsOutsideStorageAreRefused() {
        Tensor x = iota(4);
        assertThrows(IllegalArgumentException.class, () -> Tensor.view(x.storage(), new int[] {5}, new int[] {1}, 0));
        assertThrows(IllegalArgumentException.class, () -> x.narrow(0, 3, 2));
        assertThrows(IllegalArgumentException.class, () -> x.select(0, 4));
    }

    @Test
    void closedTensorIsAClearError() {
        Tensor x = iota(3);
        Tensor v = x.narrow(0, 1, 2);
        x.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, v::toFloatArray);
        assertTrue(e.getMessage().contains("used after it was freed"), e.getMessage());
    }

    @Test
    void generatorIsDeterministicAndAdvances() {
        Generator g1 = new Generator(42);
        Generator g2 = new Generator(42);
        Tensor a = Tensor.normal(g1, 0, 1, DType.F32, Device.CPU, 100);
        Tensor b = Tensor.normal(g2, 0, 1, DType.F32, Device.CPU, 100);
        assertArrayEquals(a.toFloatArray(), b.toFloatArray());
        assertEquals(100, g1.offset());
        Tensor c = Tensor.normal(g1, 0, 1, DType.F32, Device.CPU, 100);
        assertFalse(java.util.Arrays.equals(a.toFloatArray(), c.toFloatArray()));
        // the same numbers as one draw of 200 from a fresh generator: draws only depend on the offset
        Tensor whole = Tensor.normal(new Generator(42), 0, 1, DType.F32, Device.CPU, 200);
        assertArrayEquals(c.toFloatArray(), whole.narrow(0, 100, 100).toFloatArray());
    }
}
