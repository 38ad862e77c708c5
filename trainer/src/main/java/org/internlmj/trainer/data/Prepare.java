package org.internlmj.trainer.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.LongConsumer;
import java.util.stream.Stream;
import org.internlmj.trainer.tokenizer.Tokenizer;

/**
 * Turns text into InternLM's tokenized format ({@code internlmj prepare}): plain text files (one
 * document per file) and JSONL files ({@code {"text": ...}} per line, one document per line) become
 * {@code out/train/<name>.bin(.meta)} and {@code out/valid/<name>.bin(.meta)}. Each document is
 * {@code [BOS] + tokens + [EOS]}, as InternLM's tokenizer script writes it. A document goes to the
 * validation split by a hash of its source (its path relative to the inputs' common folder) and position,
 * so the split is stable when inputs are added and when the whole tree moves.
 * The whole output folder is built under a temporary name and renamed into place at the end.
 */
public final class Prepare {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What was written. */
    public record Result(Path out, int trainDocuments, long trainTokens, int validDocuments, long validTokens,
                         int skippedFiles) {
    }

    private Prepare() {
    }

    /**
     * Expands inputs: files, folders (every regular file below, sorted) and globs ({@code "**}{@code /*.java"},
     * relative to {@code base}).
     */
    public static List<Path> expand(List<String> inputs, Path base) throws IOException {
        Set<Path> files = new LinkedHashSet<>();
        for (String in : inputs) {
            if (in.contains("*") || in.contains("?") || in.contains("{")) {
                PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + in);
                try (Stream<Path> walk = Files.walk(base, FileVisitOption.FOLLOW_LINKS)) {
                    walk.filter(Files::isRegularFile)
                            .filter(p -> m.matches(base.relativize(p)))
                            .filter(p -> !isHidden(base.relativize(p)))
                            .sorted().forEach(files::add);
                }
                continue;
            }
            Path p = base.resolve(in);
            if (Files.isDirectory(p)) {
                try (Stream<Path> walk = Files.walk(p, FileVisitOption.FOLLOW_LINKS)) {
                    walk.filter(Files::isRegularFile).sorted().forEach(files::add);
                }
            } else if (Files.isRegularFile(p)) {
                files.add(p);
            } else {
                throw new IllegalArgumentException("input " + in + " does not exist (" + p.toAbsolutePath() + ")");
            }
        }
        return new ArrayList<>(files);
    }

    /** Paths under build outputs or hidden folders (target/, .git/) are not text a glob means. */
    private static boolean isHidden(Path rel) {
        for (Path part : rel) {
            String s = part.toString();
            if (s.startsWith(".") || s.equals("target") || s.equals("runs") || s.equals("data")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Tokenizes {@code files} into {@code out} (which must not exist unless {@code force}).
     *
     * @param progress called with the bytes of input consumed so far (for a progress bar)
     */
    public static Result run(List<Path> files, Path out, Tokenizer tokenizer, double validFraction, String textKey,
                             String name, boolean force, LongConsumer progress) throws IOException {
        if (files.isEmpty()) {
            throw new IllegalArgumentException("no input files to prepare");
        }
        return build(out, name, force, tokenizer, validFraction, sink -> {
            long consumed = 0;
            int skipped = 0;
            Path root = commonParent(files);
            for (Path f : files) {
                String fname = f.getFileName().toString();
                // Named for the split relative to the inputs' common folder, so the split does not change when
                // the whole tree moves (another clone, another temp folder).
                String key = root.relativize(f.toAbsolutePath().normalize()).toString();
                if (fname.endsWith(".jsonl") || fname.endsWith(".json")) {
                    int line = 0;
                    try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
                        String s;
                        while ((s = r.readLine()) != null) {
                            line++;
                            consumed += s.length() + 1;
                            if (s.isBlank()) {
                                continue;
                            }
                            JsonNode n;
                            try {
                                n = JSON.readTree(s);
                            } catch (IOException e) {
                                throw new DataFormatException(f, consumed, "line " + line + " is not valid JSON");
                            }
                            JsonNode t = n.get(textKey);
                            if (t == null || !t.isTextual()) {
                                throw new DataFormatException(f, consumed, "line " + line + " has no string \"" + textKey + "\"");
                            }
                            sink.add(t.textValue(), key + "#" + line);
                            progress.accept(consumed);
                        }
                    }
                } else {
                    byte[] bytes = Files.readAllBytes(f);
                    consumed += bytes.length;
                    if (isBinary(bytes)) {
                        skipped++;
                    } else {
                        String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                                .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(java.nio.ByteBuffer.wrap(bytes))
                                .toString();
                        sink.add(text, key);
                    }
                    progress.accept(consumed);
                }
            }
            return skipped;
        });
    }

    /**
     * Tokenizes documents given as strings into {@code out} (which must not exist). Document {@code i}
     * goes to the validation split by a hash of {@code name} and {@code i}, so the same list splits the
     * same way wherever it is written.
     */
    public static Result runTexts(List<String> documents, Path out, Tokenizer tokenizer, double validFraction, String name)
            throws IOException {
        if (documents.isEmpty()) {
            throw new IllegalArgumentException("no documents to prepare");
        }
        return build(out, name, false, tokenizer, validFraction, sink -> {
            for (int i = 0; i < documents.size(); i++) {
                sink.add(documents.get(i), name + "#" + (i + 1));
            }
            return 0;
        });
    }

    /** The deepest folder that holds every file of {@code files} (absolute, normalised). */
    static Path commonParent(List<Path> files) {
        Path common = null;
        for (Path f : files) {
            Path parent = f.toAbsolutePath().normalize().getParent();
            if (common == null) {
                common = parent;
            } else {
                while (!parent.startsWith(common)) {
                    common = common.getParent();
                }
            }
        }
        return common == null ? Path.of("").toAbsolutePath() : common;
    }

    /** Where a source's documents go: {@code key} names the document for the train/valid split. */
    private interface Sink {
        void add(String text, String key) throws IOException;
    }

    /** Feeds every document of a source to the sink; returns the number of skipped (binary) files. */
    private interface Feed {
        int feed(Sink sink) throws IOException;
    }

    /** Writes the fed documents under a temporary folder and moves it to {@code out} once complete. */
    private static Result build(Path out, String name, boolean force, Tokenizer tokenizer, double validFraction, Feed feed)
            throws IOException {
        if (Files.exists(out) && !force) {
            throw new IllegalArgumentException("output folder " + out + " already exists (use --force to replace it)");
        }
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createDirectory(parent.resolve(out.getFileName() + ".partial-" + ProcessHandle.current().pid()
                + "-" + Long.toHexString(System.nanoTime())));
        try (TokenizedWriter train = new TokenizedWriter(tmp.resolve("train").resolve(name + ".bin"));
             TokenizedWriter valid = new TokenizedWriter(tmp.resolve("valid").resolve(name + ".bin"))) {
            int skipped = feed.feed((text, key) -> addDocument(text, key, tokenizer, validFraction, train, valid));
            if (train.documents() == 0) {
                throw new IllegalArgumentException("no documents were written to the training split (inputs empty or binary)");
            }
            train.commit();
            valid.commit();
            Result r = new Result(out, train.documents(), train.tokens(), valid.documents(), valid.tokens(), skipped);
            install(tmp, out, force);
            return r;
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
    }

    private static void addDocument(String text, String key, Tokenizer tokenizer, double validFraction,
                                    TokenizedWriter train, TokenizedWriter valid) throws IOException {
        if (text.isEmpty()) {
            return;
        }
        int[] body = tokenizer.encode(text);
        int bos = tokenizer.bosId();
        int eos = tokenizer.eosId();
        int n = body.length + (bos >= 0 ? 1 : 0) + (eos >= 0 ? 1 : 0);
        int[] doc = new int[n];
        int k = 0;
        if (bos >= 0) {
            doc[k++] = bos;
        }
        System.arraycopy(body, 0, doc, k, body.length);
        k += body.length;
        if (eos >= 0) {
            doc[k] = eos;
        }
        boolean isValid = Math.floorMod(stableHash(key), 10_000) < validFraction * 10_000;
        (isValid ? valid : train).add(doc);
    }

    /** FNV-1a over the UTF-8 bytes: the same on every JVM (String.hashCode would do too, but say so). */
    static long stableHash(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    private static boolean isBinary(byte[] bytes) {
        int n = Math.min(bytes.length, 8192);
        for (int i = 0; i < n; i++) {
            if (bytes[i] == 0) {
                return true;
            }
        }
        return false;
    }

    /** Moves the finished temporary folder to {@code out}, replacing an old one only after the new one is complete. */
    private static void install(Path tmp, Path out, boolean force) throws IOException {
        TokenizedWriter.fsync(tmp);
        Path old = null;
        if (Files.exists(out)) {
            if (!force) {
                throw new IllegalArgumentException("output folder " + out + " appeared while preparing; not replacing it");
            }
            old = out.resolveSibling(out.getFileName() + ".old-" + System.nanoTime());
            Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
        TokenizedWriter.fsync(out.toAbsolutePath().getParent());
        if (old != null) {
            deleteTree(old);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}
