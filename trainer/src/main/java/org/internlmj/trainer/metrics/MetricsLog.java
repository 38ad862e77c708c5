package org.internlmj.trainer.metrics;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Appends one JSON object per line to {@code metrics.jsonl} (and the same scalars to TensorBoard when
 * enabled). Flushed after every record so a crash loses nothing already logged.
 */
public final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter jsonl;
    private final TensorBoardWriter tensorboard;

    public MetricsLog(Path runDir, boolean tensorboard) throws IOException {
        Files.createDirectories(runDir);
        Path file = runDir.resolve("metrics.jsonl");
        boolean partialLine = false;
        if (Files.isRegularFile(file) && Files.size(file) > 0) {
            try (var ch = java.nio.channels.FileChannel.open(file, StandardOpenOption.READ)) {
                java.nio.ByteBuffer last = java.nio.ByteBuffer.allocate(1);
                ch.read(last, ch.size() - 1);
                partialLine = last.get(0) != '\n';
            }
        }
        this.jsonl = Files.newBufferedWriter(file, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        if (partialLine) {
            // a run killed mid-line (a resumed run appends here): end that line so every later record parses
            jsonl.newLine();
        }
        this.tensorboard = tensorboard ? new TensorBoardWriter(runDir.resolve("tensorboard")) : null;
    }

    /** Writes a record; numeric entries also go to TensorBoard under their key. */
    public synchronized void record(long step, Map<String, Object> values) throws IOException {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", step);
        line.putAll(values);
        jsonl.write(JSON.writeValueAsString(line));
        jsonl.newLine();
        jsonl.flush();
        if (tensorboard != null) {
            Map<String, Double> scalars = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : values.entrySet()) {
                if (e.getValue() instanceof Number n && Double.isFinite(n.doubleValue())) {
                    scalars.put(e.getKey(), n.doubleValue());
                }
            }
            if (!scalars.isEmpty()) {
                tensorboard.scalars(step, scalars);
            }
        }
    }

    @Override
    public synchronized void close() throws IOException {
        jsonl.close();
        if (tensorboard != null) {
            tensorboard.close();
        }
    }
}
