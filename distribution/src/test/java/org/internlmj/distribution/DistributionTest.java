package org.internlmj.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution as a user gets it: unpacked into an empty folder and run with {@code JAVA_HOME} unset
 * and no {@code java} on PATH (PATH holds only the few tools the launcher uses), so nothing but the
 * runtime inside the tarball can run it. Runs at integration-test, after the build made the tarball.
 */
class DistributionTest {
    /** What bin/internlmj and find-cuda.sh call; java is deliberately not among them. */
    private static final List<String> TOOLS = List.of("bash", "readlink", "dirname", "grep", "ls", "sort", "timeout",
            "cat", "uname");

    @TempDir
    static Path dir;
    static Path home;
    static Path tools;

    @BeforeAll
    static void unpack() throws Exception {
        String tarball = System.getProperty("internlmj.dist.tarball");
        assertNotNull(tarball, "run by the build at integration-test (mvn verify), which passes internlmj.dist.tarball");
        Path unpacked = Files.createDirectories(dir.resolve("unpacked"));
        assertEquals(0, Files.list(unpacked).count());
        Process tar = new ProcessBuilder("tar", "-xzf", tarball, "-C", unpacked.toString()).inheritIO().start();
        assertEquals(0, tar.waitFor());
        try (var entries = Files.list(unpacked)) {
            List<Path> top = entries.toList();
            assertEquals(1, top.size(), "one top folder: " + top);
            home = top.get(0);
        }
        assertTrue(home.getFileName().toString().matches("internlmj-\\d+\\.\\d+\\.\\d+.*"), home.toString());
        for (String p : List.of("bin/internlmj", "runtime/bin/java", "configs/demo.yaml", "README.md")) {
            assertTrue(Files.exists(home.resolve(p)), p + " is in the distribution");
        }
        tools = Files.createDirectories(dir.resolve("tools"));
        for (String t : TOOLS) {
            for (String d : List.of("/usr/bin", "/bin")) {
                Path real = Path.of(d, t);
                if (Files.isExecutable(real) && !Files.exists(tools.resolve(t))) {
                    Files.createSymbolicLink(tools.resolve(t), real);
                }
            }
        }
    }

    /** Removes the tool links first: JUnit warns about links to outside its folder when it cleans up. */
    @AfterAll
    static void unlinkTools() throws IOException {
        try (var links = Files.list(tools)) {
            for (Path l : links.toList()) {
                Files.delete(l);
            }
        }
    }

    private record Run(int code, String out, String err) {
    }

    /** Runs {@code command} in {@code cwd} with a bare environment: no JAVA_HOME, PATH without java. */
    private static Run run(Path cwd, String... command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        Map<String, String> env = pb.environment();
        env.clear();
        env.put("PATH", tools.toString());
        env.put("HOME", Files.createDirectories(dir.resolve("home")).toString());
        env.put("INTERNLMJ_CPU_THREADS", "2");
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("timed out: " + String.join(" ", command) + "\n" + Files.readString(err));
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void thereIsNoJavaButTheDistributionsOwn() throws Exception {
        Run which = run(dir, tools.resolve("bash").toString(), "-c", "command -v java; echo \"JAVA_HOME=${JAVA_HOME:-}\"");
        assertEquals("JAVA_HOME=\n", which.out(), "no java on PATH and JAVA_HOME unset");
        Run info = run(dir, home.resolve("bin/internlmj").toString(), "info");
        assertEquals(0, info.code(), info.err());
        assertTrue(info.out().contains("java: 25"), info.out());
        assertTrue(info.out().contains(home.resolve("runtime").toString()), "java.home is the bundled runtime:\n" + info.out());
        assertTrue(info.out().contains("cpu backend:") && info.out().contains("native libraries:"), info.out());
        assertTrue(info.out().contains("launcher found CUDA libraries: "), "the launcher's CUDA search is reported:\n" + info.out());
        Run modules = run(dir, home.resolve("runtime/bin/java").toString(), "--list-modules");
        assertTrue(modules.out().contains("jdk.incubator.vector"), modules.out());
        assertTrue(!modules.out().contains("jdk.compiler") && !modules.out().contains("jdk.jshell"),
                "a trimmed runtime, not a whole JDK:\n" + modules.out());
    }

    @Test
    void trainsThreeStepsThenGenerates() throws Exception {
        Path work = Files.createDirectories(dir.resolve("work"));
        // the demo config prepares its data from the text files under the working folder: give it the docs
        Files.copy(home.resolve("README.md"), work.resolve("README.md"));
        copyTree(home.resolve("docs"), work.resolve("docs"));
        Run train = run(work, home.resolve("bin/internlmj").toString(), "train", home.resolve("configs/demo.yaml").toString(),
                "--set", "data.total_steps=3", "--set", "model.num_layers=1", "--set", "data.seq_len=64",
                "--set", "data.micro_bsz=2", "--set", "data.valid_every=2", "--set", "internlmj.log_every=1",
                "--set", "internlmj.sample_tokens=8", "--set", "internlmj.auto_prepare.valid_fraction=0.5");
        assertEquals(0, train.code(), train.out() + train.err());
        for (String line : List.of("step 0/3", "step 1/3", "step 2/3", "trained 3 steps", "validation at step 2")) {
            assertTrue(train.out().contains(line), "'" + line + "' in:\n" + train.out());
        }
        Path ckpt = work.resolve("runs/demo/ckpt/3");
        assertTrue(Files.isRegularFile(ckpt.resolve("meta.json")), "the run saved its checkpoint");
        assertTrue(Files.isRegularFile(work.resolve("runs/demo/metrics.jsonl")));

        Run gen = run(work, home.resolve("bin/internlmj").toString(), "generate", "--ckpt", ckpt.toString(),
                "--prompt", "the ", "--max-tokens", "6", "--temperature", "0");
        assertEquals(0, gen.code(), gen.err());
        assertTrue(gen.out().startsWith("the "), gen.out());
        assertNotEquals("the \n", gen.out(), "something was generated");
    }

    @Test
    void preparesDataWithAHuggingFaceTokenizer() throws Exception {
        // DJL's native tokenizer library is unpacked and loaded by the bundled runtime
        Path work = Files.createDirectories(dir.resolve("hf"));
        Files.writeString(work.resolve("tokenizer.json"), """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                                  {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                                  {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
                 "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4}, "unk_token": "<unk>"}}
                """);
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            docs.add("{\"text\": \"hello world hello\"}");
        }
        Files.write(work.resolve("docs.jsonl"), docs);
        Run prep = run(work, home.resolve("bin/internlmj").toString(), "prepare", "docs.jsonl", "--out", "data",
                "--tokenizer", "tokenizer.json");
        assertEquals(0, prep.code(), prep.out() + prep.err());
        assertTrue(Files.isDirectory(work.resolve("data/train")), prep.out());
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }
}
