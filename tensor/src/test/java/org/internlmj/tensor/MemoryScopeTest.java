package org.internlmj.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class MemoryScopeTest {

    @Test
    void closingAScopeFreesWhatWasAllocatedInIt() {
        Tensor inner;
        Tensor kept;
        try (MemoryScope outer = MemoryScope.open()) {
            try (MemoryScope scope = MemoryScope.open()) {
                inner = Tensor.zeros(DType.F32, Device.CPU, 4, 4);
                kept = scope.keep(Tensor.zeros(DType.F32, Device.CPU, 2));
                assertEquals(1, scope.size()); // kept moved to the outer scope
            }
            assertTrue(inner.isClosed());
            assertFalse(kept.isClosed());
            assertEquals(1, outer.size());
        }
        assertTrue(kept.isClosed());
    }

    @Test
    void keepInTheOutermostScopeLeavesTheTensorUnowned() {
        Tensor t;
        try (MemoryScope scope = MemoryScope.open()) {
            t = scope.keep(Tensor.zeros(DType.F32, Device.CPU, 3));
        }
        assertFalse(t.isClosed());
        assertEquals(3, t.toFloatArray().length);
    }

    @Test
    void detachedScopeOwnsAdoptedTensors() {
        MemoryScope params = MemoryScope.detached();
        Tensor w;
        try (MemoryScope step = MemoryScope.open()) {
            w = params.adopt(Tensor.zeros(DType.F32, Device.CPU, 8));
        }
        assertFalse(w.isClosed());
        params.close();
        assertTrue(w.isClosed());
    }

    @Test
    void scopesCloseInnermostFirst() {
        MemoryScope outer = MemoryScope.open();
        MemoryScope inner = MemoryScope.open();
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        outer.close();
        assertEquals(null, MemoryScope.current());
    }

    @Test
    void freedArraysAreReused() {
        org.internlmj.tensor.cpu.CpuBackend cpu = org.internlmj.tensor.cpu.CpuBackend.shared();
        long before = cpu.pooledBytes();
        try (MemoryScope scope = MemoryScope.open()) {
            Tensor.empty(DType.F32, Device.CPU, 1000, 37);
        }
        assertTrue(cpu.pooledBytes() >= before + 4L * 1000 * 37 || cpu.pooledBytes() > 0);
        long pooled = cpu.pooledBytes();
        try (MemoryScope scope = MemoryScope.open()) {
            Tensor z = Tensor.zeros(DType.F32, Device.CPU, 1000, 37);
            assertEquals(pooled - 4L * 1000 * 37, cpu.pooledBytes());
            for (float f : z.toFloatArray()) {
                assertEquals(0f, f);
            }
        }
    }

    @Test
    void moveToOwnerOfFollowsTheAnchorsScope() {
        MemoryScope params = MemoryScope.detached();
        Tensor w = params.adopt(Tensor.zeros(DType.F32, Device.CPU, 4));
        Tensor unowned = Tensor.zeros(DType.F32, Device.CPU, 4);
        Tensor grad;
        Tensor free;
        try (MemoryScope step = MemoryScope.open()) {
            grad = MemoryScope.moveToOwnerOf(Tensor.zeros(DType.F32, Device.CPU, 4), w);
            free = MemoryScope.moveToOwnerOf(Tensor.zeros(DType.F32, Device.CPU, 4), unowned);
            assertEquals(0, step.size());
        }
        assertFalse(grad.isClosed());
        assertFalse(free.isClosed());
        params.close();
        assertTrue(grad.isClosed());
        assertFalse(free.isClosed());
    }
}
