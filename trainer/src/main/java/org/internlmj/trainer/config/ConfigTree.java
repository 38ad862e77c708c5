package org.internlmj.trainer.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a YAML config into a tree, applies {@code --set section.key=value} overrides, and resolves
 * {@code ${...}} references ({@link Expr}) to top-level constants ({@code ${SEQ_LEN}}) and other keys
 * ({@code ${data.total_steps}}). A scalar that is exactly one {@code ${...}} takes the value's type; a
 * string with references inside is interpolated ({@code "${SAVE_CKPT_FOLDER}/snapshot"}).
 */
public final class ConfigTree {
    /** Duplicate keys are errors: with YAML's "last one wins" a repeated section would silently drop the first. */
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final Pattern REF = Pattern.compile("\\$\\{([^}]*)}");

    private final ObjectNode raw;
    private final ObjectNode resolved;

    private ConfigTree(ObjectNode raw) {
        this.raw = raw;
        this.resolved = raw.deepCopy();
        new Resolver(raw).resolveAll(resolved);
    }

    /** Reads {@code file} and applies the overrides ("a.b=c"). */
    public static ConfigTree load(Path file, List<String> overrides) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException("config file " + file + " does not exist");
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
        }
        return parse(text, file.toString(), overrides);
    }

    /** Parses YAML text ({@code source} names it in errors) and applies the overrides. */
    public static ConfigTree parse(String yaml, String source, List<String> overrides) {
        JsonNode node;
        try {
            node = YAML.readTree(yaml);
        } catch (JsonProcessingException e) {
            throw new ConfigException(source + " is not valid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ")" : ""));
        }
        if (node == null || node.isNull() || node.isMissingNode()) {
            node = JsonNodeFactory.instance.objectNode();
        }
        if (!(node instanceof ObjectNode obj)) {
            throw new ConfigException(source + ": the top level must be a mapping of sections, got " + Section.describe(node));
        }
        for (String o : overrides) {
            applyOverride(obj, o);
        }
        return new ConfigTree(obj);
    }

    /** The tree after overrides, before references were resolved (what a checkpoint records). */
    public ObjectNode raw() {
        return raw.deepCopy();
    }

    /** The tree with every reference resolved. */
    public ObjectNode resolved() {
        return resolved.deepCopy();
    }

    JsonNode node() {
        return resolved;
    }

    private static void applyOverride(ObjectNode root, String override) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException("--set '" + override + "': expected section.key=value");
        }
        String path = override.substring(0, eq).trim();
        String valueText = override.substring(eq + 1);
        JsonNode value;
        try {
            value = valueText.isEmpty() ? TextNode.valueOf("") : YAML.readTree(valueText);
            if (value == null || value.isMissingNode()) {
                value = NullNode.getInstance();
            }
        } catch (JsonProcessingException e) {
            value = TextNode.valueOf(valueText);
        }
        String[] parts = path.split("\\.");
        ObjectNode cur = root;
        for (int i = 0; i < parts.length - 1; i++) {
            JsonNode next = cur.get(parts[i]);
            if (next == null || next.isNull()) {
                next = cur.putObject(parts[i]);
            } else if (!next.isObject()) {
                throw new ConfigException("--set " + path + ": '" + String.join(".", List.of(parts).subList(0, i + 1))
                        + "' is " + Section.describe(next) + ", not a section");
            }
            cur = (ObjectNode) next;
        }
        cur.set(parts[parts.length - 1], value);
    }

    /** Resolves references with memoisation and cycle detection. */
    private static final class Resolver {
        private final ObjectNode root;
        private final Set<String> inProgress = new HashSet<>();

        Resolver(ObjectNode root) {
            this.root = root;
        }

        void resolveAll(JsonNode node) {
            if (node instanceof ObjectNode obj) {
                for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    if (e.getValue().isTextual()) {
                        e.setValue(resolveText(e.getValue().textValue()));
                    } else {
                        resolveAll(e.getValue());
                    }
                }
            } else if (node instanceof ArrayNode arr) {
                for (int i = 0; i < arr.size(); i++) {
                    if (arr.get(i).isTextual()) {
                        arr.set(i, resolveText(arr.get(i).textValue()));
                    } else {
                        resolveAll(arr.get(i));
                    }
                }
            }
        }

        JsonNode resolveText(String text) {
            Matcher m = REF.matcher(text);
            if (!m.find()) {
                return TextNode.valueOf(text);
            }
            if (m.start() == 0 && m.end() == text.length()) {
                return toNode(Expr.eval(m.group(1), this::lookup));
            }
            m.reset();
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                Object v = Expr.eval(m.group(1), this::lookup);
                m.appendReplacement(sb, Matcher.quoteReplacement(String.valueOf(v)));
            }
            m.appendTail(sb);
            return TextNode.valueOf(sb.toString());
        }

        Object lookup(String name) {
            if (!inProgress.add(name)) {
                throw new ConfigException("circular reference through ${" + name + "}");
            }
            try {
                JsonNode cur = root;
                for (String part : name.split("\\.")) {
                    cur = cur == null ? null : cur.get(part);
                }
                if (cur == null || cur.isMissingNode()) {
                    throw new ConfigException("${" + name + "} refers to a key that is not in the config");
                }
                if (cur.isTextual()) {
                    cur = resolveText(cur.textValue());
                }
                if (cur.isIntegralNumber()) {
                    return cur.longValue();
                }
                if (cur.isNumber()) {
                    return cur.doubleValue();
                }
                if (cur.isBoolean()) {
                    return cur.booleanValue();
                }
                if (cur.isTextual()) {
                    return cur.textValue();
                }
                throw new ConfigException("${" + name + "} refers to " + Section.describe(cur) + "; only scalars can be referenced");
            } finally {
                inProgress.remove(name);
            }
        }

        private static JsonNode toNode(Object v) {
            return switch (v) {
                case Long l -> LongNode.valueOf(l);
                case Double d -> DoubleNode.valueOf(d);
                case Boolean b -> BooleanNode.valueOf(b);
                default -> TextNode.valueOf(String.valueOf(v));
            };
        }
    }
}
