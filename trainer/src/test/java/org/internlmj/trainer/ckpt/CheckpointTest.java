package org.internlmj.trainer.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.internlmj.nn.InternLMModel;
import org.internlmj.nn.ModelSpec;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.train.ModelFactory;
import org.internlmj.trainer.train.TinyRun;
import org.internlmj.trainer.train.Trainer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    @TempDir
    Path dir;

    @BeforeEach
    void data() throws IOException {
        TinyRun.prepareData(dir);
    }

    private Trainer trainer(String... overrides) throws IOException {
        return new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of(overrides)), dir, s -> { });
    }

    private Path trainedCheckpoint() throws IOException {
        try (Trainer t = trainer("ckpt.auto_resume=false")) {
            t.fit();
        }
        return dir.resolve("ckpt/6");
    }

    @Test
    void corruptFilesAreRefusedWithTheFileAndProblem() throws IOException {
        Path ck = trainedCheckpoint();
        Path model = ck.resolve(CheckpointStore.MODEL_FILE);
        byte[] original = Files.readAllBytes(model);
        // a flipped byte in the data
        try (RandomAccessFile f = new RandomAccessFile(model.toFile(), "rw")) {
            f.seek(original.length - 3);
            f.write(original[original.length - 3] ^ 0x40);
        }
        CheckpointException flipped = assertThrows(CheckpointException.class, () -> CheckpointStore.open(ck));
        assertTrue(flipped.getMessage().contains(CheckpointStore.MODEL_FILE) && flipped.getMessage().contains("checksum"),
                flipped.getMessage());
        // truncated
        Files.write(model, java.util.Arrays.copyOf(original, original.length / 2));
        CheckpointException cut = assertThrows(CheckpointException.class, () -> CheckpointStore.open(ck));
        assertTrue(cut.getMessage().contains(CheckpointStore.MODEL_FILE), cut.getMessage());
        CheckpointException direct = assertThrows(CheckpointException.class, () -> SafeTensors.open(model));
        assertTrue(direct.getMessage().contains("truncated"), direct.getMessage());
        // missing metadata
        Files.write(model, original);
        Files.delete(ck.resolve(CheckpointStore.META_FILE));
        CheckpointException meta = assertThrows(CheckpointException.class, () -> CheckpointStore.open(ck));
        assertTrue(meta.getMessage().contains("meta.json") && meta.getMessage().contains("incomplete"), meta.getMessage());
    }

    @Test
    void wrongShapesAreListed() throws IOException {
        Path ck = trainedCheckpoint();
        TrainConfig other = TrainConfig.parse(TinyRun.CONFIG, List.of("model.hidden_size=32", "model.num_layers=2"));
        InternLMModel m = new InternLMModel(ModelFactory.spec(other.model()), Device.CPU);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> CheckpointStore.loadModel(CheckpointStore.open(ck), m));
        assertTrue(e.getMessage().contains("embedding.weight: expected shape [259, 32], found [259, 16]"), e.getMessage());
        assertTrue(e.getMessage().contains("blocks.1.mlp.w3.weight"), e.getMessage());
    }

    @Test
    void latestSkipsIncompleteAndCorruptCheckpoints() throws IOException {
        trainedCheckpoint();
        Path root = dir.resolve("ckpt");
        Files.createDirectories(root.resolve("9.partial-abc"));
        Files.createDirectories(root.resolve("12"));
        Files.writeString(root.resolve("12/meta.json"), "{not json");
        List<String> warnings = new ArrayList<>();
        CheckpointStore.Loaded l = CheckpointStore.latest(root, null, warnings::add).orElseThrow();
        assertEquals(6, l.step());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("9.partial-abc") && w.contains("interrupted")), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("12") && w.contains("not valid JSON")), warnings.toString());
        // a newer checkpoint whose data was damaged is skipped by its checksum
        Path six = root.resolve("6");
        Path nine = root.resolve("9");
        Files.walk(six).forEach(p -> {
            try {
                Files.copy(p, nine.resolve(six.relativize(p).toString()));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Files.writeString(nine.resolve("meta.json"), Files.readString(nine.resolve("meta.json")).replace("\"step\" : 6", "\"step\" : 9"));
        Path m = nine.resolve(CheckpointStore.MODEL_FILE);
        byte[] b = Files.readAllBytes(m);
        b[b.length - 1] ^= 1;
        Files.write(m, b);
        warnings.clear();
        assertEquals(6, CheckpointStore.latest(root, null, warnings::add).orElseThrow().step());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("checksum")), warnings.toString());
    }

    @Test
    void snapshotsAlternateRetentionKeepsTheNewestAndStopFileStops() throws IOException {
        Files.writeString(dir.resolve("stop"), "5");
        try (Trainer t = trainer("ckpt.auto_resume=false", "ckpt.checkpoint_every=2", "ckpt.oss_snapshot_freq=1",
                "ckpt.keep_last=1", "ckpt.stop_file_path=stop")) {
            t.fit();
            assertEquals(5, t.state().step(), "the stop file stops at step 5");
        }
        Path root = dir.resolve("ckpt");
        assertEquals(List.of("5"), CheckpointStore.stepFolders(root).stream().map(p -> p.getFileName().toString()).toList());
        // snapshot slot = (step / freq) % 2: steps 1, 3 go to slot 1 (steps 2, 4 were normal checkpoints)
        assertEquals(3, CheckpointStore.open(root.resolve("snapshot/1")).step());
        assertFalse(Files.exists(root.resolve("snapshot/0")));
        // resuming picks the newest of all: step 5
        List<String> console = new ArrayList<>();
        Files.delete(dir.resolve("stop"));
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of("ckpt.oss_snapshot_freq=1")), dir, console::add)) {
            assertEquals(5, t.state().step());
        }
    }

    @Test
    void asyncSavesWriteTheSameCheckpoints() throws IOException {
        Path sync = Files.createDirectories(dir.resolve("sync"));
        Path async = Files.createDirectories(dir.resolve("async"));
        for (Path p : List.of(sync, async)) {
            Files.createSymbolicLink(p.resolve("data"), dir.resolve("data"));
            try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of("ckpt.auto_resume=false",
                    "ckpt.checkpoint_every=1", "ckpt.async_upload=" + (p == async))), p, s -> { })) {
                t.fit();
            }
        }
        for (int step = 1; step <= 6; step++) {
            CheckpointStore.Loaded a = CheckpointStore.open(sync.resolve("ckpt/" + step));
            CheckpointStore.Loaded b = CheckpointStore.open(async.resolve("ckpt/" + step));
            assertEquals(a.meta().path("files"), b.meta().path("files"), "checksums of step " + step);
        }
    }

    @Test
    void loadCkptInfoLoadsOnlyTheListedContent() throws IOException {
        Path ck = trainedCheckpoint();
        List<String> console = new ArrayList<>();
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of("ckpt.auto_resume=false",
                "ckpt.save_ckpt_folder=other", "ckpt.load_ckpt_info={path: " + ck + ", content: [model], ckpt_type: internlm}")),
                dir, console::add)) {
            assertEquals(0, t.state().step(), "model only: the schedule starts over");
            Tensor loaded = t.model().namedParameters().get("head.weight").data();
            try (SafeTensors.Reader r = SafeTensors.open(ck.resolve(CheckpointStore.MODEL_FILE))) {
                assertArrayEquals(r.read("head.weight").toFloatArray(), loaded.toFloatArray());
            }
        }
        assertTrue(console.get(0).startsWith("loaded model from"), console.toString());
    }

    @Test
    void modelOnlyLoadRefreshesBf16MasterWeights() throws IOException {
        ModelSpec spec = new ModelSpec(11, 8, 1, 2, 16, ModelSpec.NormType.RMSNORM, 1e-5, DType.BF16, 1, 0, 10000);
        InternLMModel m = new InternLMModel(spec, Device.CPU);
        m.initialize(1);
        var opt = new org.internlmj.dist.HybridZeroOptimizer(
                m.parameters().stream().map(org.internlmj.nn.Parameter::variable).toList(),
                m.parameters().stream().map(org.internlmj.nn.Parameter::name).toList(),
                org.internlmj.dist.HybridZeroOptimizer.Settings.local(0.9, 1e-8, 0, 0),
                org.internlmj.dist.GradScaler.constant());
        m.namedParameters().get("head.weight").data().copyFrom(Tensor.full(0.5, DType.F32, Device.CPU, 11, 8));
        opt.reloadMasters();
        var head = opt.shards().get(opt.shards().size() - 1);
        assertEquals("head.weight", head.name());
        assertEquals(0.5, head.master().get(3 * 8 + 3));
        assertEquals(DType.F32, head.master().dtype());
    }
}
