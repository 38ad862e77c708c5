package org.internlmj.ffm;

import java.util.List;

/** The native libraries the engine may use, with the file names and places each is looked for under. */
public final class KnownLibraries {
    private KnownLibraries() {
    }

    /** The CUDA driver (installed with the GPU driver, not the toolkit). */
    public static final NativeLibrary.Spec CUDA_DRIVER = NativeLibrary.Spec.of("CUDA driver", "libcuda.so.1", "libcuda.so")
            .withExtraDirs("/usr/lib/x86_64-linux-gnu", "/usr/lib64/nvidia", "/usr/local/nvidia/lib64",
                    "/usr/local/cuda/compat");

    public static final NativeLibrary.Spec NVRTC = NativeLibrary.Spec.of("NVRTC",
            "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so").withPythonNvidia();

    public static final NativeLibrary.Spec CUBLAS = NativeLibrary.Spec.of("cuBLAS",
            "libcublas.so.13", "libcublas.so.12", "libcublas.so").withPythonNvidia();

    public static final NativeLibrary.Spec CUBLAS_LT = NativeLibrary.Spec.of("cuBLASLt",
            "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so").withPythonNvidia();

    public static final NativeLibrary.Spec NCCL = NativeLibrary.Spec.of("NCCL", "libnccl.so.2", "libnccl.so")
            .withPythonNvidia();

    /** Open MPI; opened RTLD_GLOBAL because its plugins are under-linked (MEASURED.md). */
    public static final NativeLibrary.Spec MPI = NativeLibrary.Spec.of("Open MPI", "libmpi.so.40", "libmpi.so")
            .withExtraDirs("/usr/lib/x86_64-linux-gnu/openmpi/lib").globalSymbols();

    /** OpenBLAS: the baseline the GEMM benchmarks compare with (Debian's libopenblas0-pthread). */
    public static final NativeLibrary.Spec OPENBLAS = NativeLibrary.Spec.of("OpenBLAS", "libopenblas.so.0",
            "libopenblas.so").withExtraDirs("/usr/lib/x86_64-linux-gnu/openblas-pthread");

    /** All of the above, in the order {@code internlmj info} prints them. */
    public static List<NativeLibrary.Spec> all() {
        return List.of(CUDA_DRIVER, NVRTC, CUBLAS, CUBLAS_LT, NCCL, MPI, OPENBLAS);
    }
}
