package org.internlmj.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class CFunctionTest {

    @Test
    void parsesNameReturnTypeAndParameterTypes() {
        CFunction f = CFunction.of("nvrtcResult nvrtcCreateProgram(nvrtcProgram *prog, const char *src, "
                + "const char * const *headers)", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        assertEquals("nvrtcCreateProgram", f.name());
        assertEquals("nvrtcResult", f.returnType());
        assertEquals(List.of("nvrtcProgram *", "const char *", "const char * const *"), f.paramTypes());
    }

    @Test
    void pointerReturnAndVoidParameters() {
        CFunction f = CFunction.of("const char * ncclGetErrorString(ncclResult_t result)", ADDRESS, JAVA_INT);
        assertEquals("const char *", f.returnType());
        CFunction g = CFunction.of("CUresult cuCtxSynchronize(void)", JAVA_INT);
        assertEquals(List.of(), g.paramTypes());
    }

    @Test
    void countMismatchAndUnnamedParametersAreErrors() {
        assertThrows(IllegalArgumentException.class,
                () -> CFunction.of("CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)", JAVA_INT, ADDRESS));
        assertThrows(IllegalArgumentException.class,
                () -> CFunction.of("CUresult cuMemFree_v2(CUdeviceptr)", JAVA_INT, JAVA_LONG));
        assertThrows(IllegalArgumentException.class,
                () -> CFunction.of("void f(int x)", JAVA_INT, JAVA_INT));
    }
}
