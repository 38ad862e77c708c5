package org.internlmj.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.trainer.cli.MainTestAccess;
import org.internlmj.trainer.config.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code internlmj train} across processes: ranks started by {@code mpirun} (MPI process group) and by
 * {@code internlmj launch} (TCP process group) train the tiny model to the same losses as one process with
 * the same global batch: data parallel on 2 and 4 ranks, 2 data-parallel x 2 tensor-parallel ranks, and
 * 2 data x 2 tensor (with sequence parallelism) x 2 interleaved pipeline ranks on 8 MPI processes.
 */
class DistributedCliTest {
    @TempDir
    Path dir;

    private static final String CONFIG = TinyRun.CONFIG.replace("total_steps: 6", "total_steps: 4")
            .replace("valid_every: 3", "valid_every: 0")
            .replace("enable_save_ckpt: true", "enable_save_ckpt: false");

    /** Four heads and a vocabulary of 260: the tiny model split over 2 tensor ranks. */
    private static String model(int tensor) {
        return tensor == 1 ? CONFIG : CONFIG.replace("num_attention_heads: 2", "num_attention_heads: 4")
                .replace("vocab_size: 259", "vocab_size: 260");
    }

    private List<Double> single() throws IOException {
        return single(1);
    }

    private List<Double> single(int tensor) throws IOException {
        Path d = Files.createDirectories(dir.resolve("single"));
        Files.createSymbolicLink(d.resolve("data"), dir.resolve("data"));
        try (Trainer t = new Trainer(TrainConfig.parse(model(tensor), List.of("data.micro_num=4")), d, s -> { })) {
            t.fit();
        }
        return losses(d);
    }

    private static List<Double> losses(Path base) throws IOException {
        return TinyRun.steps(TinyRun.metrics(base.resolve("run"))).stream().map(j -> j.get("loss").asDouble()).toList();
    }

    private Path rankDir(String name) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.createSymbolicLink(d.resolve("data"), dir.resolve("data"));
        // two ranks with micro_num 2 each: the single run's global batch of 4
        Files.writeString(d.resolve("config.yaml"), CONFIG.replace("micro_num: 2", "micro_num: 2"));
        return d;
    }

    private static void assertSameLosses(List<Double> expected, List<Double> actual) {
        assertEquals(expected.size(), actual.size(), "steps logged");
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i), actual.get(i), 1e-5 * Math.abs(expected.get(i)), "loss of step " + i);
        }
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0} MPI ranks, zero1 {1}, overlap {2}, tensor {3}")
    @org.junit.jupiter.params.provider.CsvSource({"2, -1, true, 1", "4, 2, false, 1", "4, -1, true, 2"})
    void mpiRanksMatchOneProcess(int ranks, int zero1, boolean overlap, int tensor) throws Exception {
        Path mpirun = onPath("mpirun");
        assumeTrue(mpirun != null, "mpirun is not on PATH (install openmpi-bin)");
        NativeLibrary.Lookup lib = NativeLibrary.find(KnownLibraries.MPI);
        assumeTrue(lib.found(), () -> "libmpi is missing (install libopenmpi-dev): " + lib.describe());
        TinyRun.prepareData(dir);
        List<Double> expected = single(tensor);
        Path d = rankDir("mpi");
        // the global batch of the single run: micro_num x data-parallel ranks = 4
        Files.writeString(d.resolve("config.yaml"), model(tensor).replace("micro_num: 2", "micro_num: " + 4 * tensor / ranks)
                .replace("hybrid_zero_optimizer: {clip_grad_norm: 1.0}", "hybrid_zero_optimizer: {clip_grad_norm: 1.0, "
                        + "overlap_sync_grad: " + overlap + ", overlap_sync_param: " + overlap + "}")
                + "parallel: {zero1: " + zero1 + ", tensor: " + tensor + "}\n");
        assertEquals(0, mpirun(mpirun, ranks, d), () -> "mpirun failed:\n" + readLog(d));
        assertSameLosses(expected, losses(d));
    }

    @Test
    void mpiDataTimesTensorTimesPipelineRanksMatchOneProcess() throws Exception {
        Path mpirun = onPath("mpirun");
        assumeTrue(mpirun != null, "mpirun is not on PATH (install openmpi-bin)");
        NativeLibrary.Lookup lib = NativeLibrary.find(KnownLibraries.MPI);
        assumeTrue(lib.found(), () -> "libmpi is missing (install libopenmpi-dev): " + lib.describe());
        TinyRun.prepareData(dir);
        // 4 layers in 2 chunks over 2 pipeline stages, each split over 2 tensor ranks with sequence parallelism,
        // 2 data-parallel replicas with ZeRO over both: 8 processes
        String fourLayers = model(2).replace("num_layers: 2", "num_layers: 4");
        Path s = Files.createDirectories(dir.resolve("single-3d"));
        Files.createSymbolicLink(s.resolve("data"), dir.resolve("data"));
        try (Trainer t = new Trainer(TrainConfig.parse(fourLayers, List.of("data.micro_num=8")), s, x -> { })) {
            t.fit();
        }
        Path d = Files.createDirectories(dir.resolve("mpi-3d"));
        Files.createSymbolicLink(d.resolve("data"), dir.resolve("data"));
        Files.writeString(d.resolve("config.yaml"), fourLayers.replace("micro_num: 2", "micro_num: 4")
                .replace("num_layers: 4", "num_layers: 4, num_chunks: 2")
                + "parallel: {zero1: -1, tensor: {size: 2, mode: \"mtp\"}, sequence_parallel: true, "
                + "pipeline: {size: 2, interleaved_overlap: true}}\n");
        assertEquals(0, mpirun(mpirun, 8, d), () -> "mpirun failed:\n" + readLog(d));
        assertSameLosses(losses(s), losses(d));
    }

    private static int mpirun(Path mpirun, int ranks, Path d) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "--allow-run-as-root", "--oversubscribe", "-np",
                Integer.toString(ranks), "--mca", "plm", "isolated", "--bind-to", "none", "--mca",
                "btl_vader_single_copy_mechanism", "none",
                // through env: mpirun rewrites the arguments of an executable named java
                "/usr/bin/env", java, "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-Xmx700m", "-Xss4m", "-cp", classPath(), "org.internlmj.trainer.cli.Main", "train", "config.yaml"));
        Process p = new ProcessBuilder(cmd).directory(d.toFile()).redirectErrorStream(true)
                .redirectOutput(d.resolve("mpirun.log").toFile()).start();
        boolean done = p.waitFor(180, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    private static String readLog(Path d) {
        try {
            return Files.readString(d.resolve("mpirun.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Test
    void twoLaunchedRanksMatchOneProcess() throws Exception {
        TinyRun.prepareData(dir);
        List<Double> expected = single();
        Path d = rankDir("launch");
        Path config = d.resolve("config.yaml");
        // relative paths in the config resolve against the workers' working directory, the test's: make them absolute
        Files.writeString(config, Files.readString(config).replace("\"data/train\"", "\"" + d.resolve("data/train") + "\"")
                .replace("\"data/valid\"", "\"" + d.resolve("data/valid") + "\"")
                .replace("run_dir: \"run\"", "run_dir: \"" + d.resolve("run") + "\""));
        assertEquals(0, MainTestAccess.run("launch", "--nproc", "2", "--", "train", config.toString()));
        assertSameLosses(expected, losses(d));
    }

    private static Path onPath(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String dirName : path.split(File.pathSeparator)) {
            Path p = Path.of(dirName, name);
            if (!dirName.isBlank() && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private static String classPath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp == null || cp.isBlank() ? System.getProperty("java.class.path") : cp;
    }
}
