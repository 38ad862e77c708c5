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
        this.jsonl = Files.newBufferedWriter(runDir.resolve("metrics.jsonl"), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
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
