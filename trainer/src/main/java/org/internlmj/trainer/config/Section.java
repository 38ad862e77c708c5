package org.internlmj.trainer.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One section of a resolved config tree with typed getters that remember which keys were read, so that
 * {@link #finish()} can report every key nobody asked for as unknown, with the nearest known key.
 */
final class Section {
    private final String path;
    private final JsonNode node;
    private final Set<String> known = new LinkedHashSet<>();

    Section(String path, JsonNode node) {
        this.path = path;
        this.node = node == null || node.isNull() || node.isMissingNode() ? NullNode.getInstance() : node;
        if (!this.node.isNull() && !this.node.isObject()) {
            throw new ConfigException(path + ": expected a section (a mapping of keys), got " + describe(node));
        }
    }

    String path() {
        return path;
    }

    private String key(String k) {
        return path.isEmpty() ? k : path + "." + k;
    }

    boolean has(String k) {
        known.add(k);
        JsonNode v = node.get(k);
        return v != null && !v.isNull();
    }

    JsonNode raw(String k) {
        known.add(k);
        JsonNode v = node.get(k);
        return v == null ? NullNode.getInstance() : v;
    }

    /** Marks keys as accepted although this engine does not read them (with the reason in the caller). */
    void accept(String... keys) {
        known.addAll(List.of(keys));
    }

    Section section(String k) {
        known.add(k);
        return new Section(key(k), node.get(k));
    }

    int getInt(String k, int dflt) {
        JsonNode v = raw(k);
        return v.isNull() ? dflt : toInt(k, v);
    }

    int requireInt(String k) {
        JsonNode v = raw(k);
        if (v.isNull()) {
            throw missing(k, "an integer");
        }
        return toInt(k, v);
    }

    private int toInt(String k, JsonNode v) {
        if (v.isIntegralNumber() && v.canConvertToInt()) {
            return v.intValue();
        }
        if (v.isNumber() && v.doubleValue() == Math.rint(v.doubleValue()) && Math.abs(v.doubleValue()) < Integer.MAX_VALUE) {
            return (int) v.doubleValue();
        }
        throw new ConfigException(key(k) + ": expected an integer, got " + describe(v));
    }

    long getLong(String k, long dflt) {
        JsonNode v = raw(k);
        if (v.isNull()) {
            return dflt;
        }
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            return v.longValue();
        }
        if (v.isNumber() && v.doubleValue() == Math.rint(v.doubleValue()) && Math.abs(v.doubleValue()) < 9e18) {
            return (long) v.doubleValue();
        }
        throw new ConfigException(key(k) + ": expected an integer, got " + describe(v));
    }

    double getDouble(String k, double dflt) {
        JsonNode v = raw(k);
        if (v.isNull()) {
            return dflt;
        }
        if (v.isNumber()) {
            return v.doubleValue();
        }
        if (v.isTextual() && (v.textValue().equals("inf") || v.textValue().equals("float('inf')"))) {
            return Double.POSITIVE_INFINITY;
        }
        throw new ConfigException(key(k) + ": expected a number, got " + describe(v));
    }

    boolean getBool(String k, boolean dflt) {
        JsonNode v = raw(k);
        if (v.isNull()) {
            return dflt;
        }
        if (v.isBoolean()) {
            return v.booleanValue();
        }
        throw new ConfigException(key(k) + ": expected true or false, got " + describe(v));
    }

    String getString(String k, String dflt) {
        JsonNode v = raw(k);
        if (v.isNull()) {
            return dflt;
        }
        if (v.isTextual()) {
            return v.textValue();
        }
        if (v.isNumber() || v.isBoolean()) {
            return v.asText();
        }
        throw new ConfigException(key(k) + ": expected a string, got " + describe(v));
    }

    List<String> getStringList(String k, List<String> dflt) {
        JsonNode v = raw(k);
        if (v.isNull()) {
            return dflt;
        }
        if (v.isTextual()) {
            return List.of(v.textValue());
        }
        if (!v.isArray()) {
            throw new ConfigException(key(k) + ": expected a list of strings, got " + describe(v));
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw new ConfigException(key(k) + ": expected a list of strings, found element " + describe(e));
            }
            out.add(e.textValue());
        }
        return out;
    }

    /** Fails if {@code value} is outside [min, max], naming the key. */
    void range(String k, double value, double min, double max) {
        if (!(value >= min && value <= max)) {
            String bounds = max == Double.POSITIVE_INFINITY ? ">= " + fmt(min) : "in [" + fmt(min) + ", " + fmt(max) + "]";
            throw new ConfigException(key(k) + " = " + fmt(value) + ": expected a value " + bounds);
        }
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }

    /** Reports keys present but never read, suggesting the nearest known one. */
    void finish() {
        if (!(node instanceof ObjectNode obj)) {
            return;
        }
        for (Iterator<String> it = obj.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                throw unknown(k);
            }
        }
    }

    /** A required key is absent: if a misspelling of it is present, say that instead. */
    private ConfigException missing(String k, String what) {
        if (node instanceof ObjectNode obj) {
            for (Iterator<String> it = obj.fieldNames(); it.hasNext(); ) {
                String present = it.next();
                if (!known.contains(present) && k.equals(Suggest.nearest(present, List.of(k)))) {
                    return new ConfigException("unknown key '" + key(present) + "'; did you mean '" + key(k) + "'?");
                }
            }
        }
        return new ConfigException(key(k) + " is required: expected " + what);
    }

    ConfigException unknown(String k) {
        String near = Suggest.nearest(k, known);
        return new ConfigException("unknown key '" + key(k) + "'"
                + (near != null ? "; did you mean '" + key(near) + "'?" : "; known keys: " + String.join(", ", known)));
    }

    static String describe(JsonNode v) {
        if (v == null || v.isNull()) {
            return "nothing";
        }
        if (v.isTextual()) {
            return "\"" + v.textValue() + "\" (a string)";
        }
        if (v.isBoolean()) {
            return v.asText() + " (a boolean)";
        }
        if (v.isIntegralNumber()) {
            return v.asText() + " (an integer)";
        }
        if (v.isNumber()) {
            return v.asText() + " (a number)";
        }
        if (v.isArray()) {
            return "a list " + v;
        }
        return "a section " + v;
    }
}
