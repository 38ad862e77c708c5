package org.internlmj.trainer.config;

import java.util.function.Function;

/**
 * The small expression language of {@code ${...}} references in config files, so YAML configs can say
 * what InternLM's Python configs compute: {@code ${SEQ_LEN}}, {@code ${8 / 3}}, {@code ${2**16}},
 * {@code ${512 * 1024 * 1024}}, {@code ${int(CHECKPOINT_EVERY / 2)}}, {@code ${data.total_steps}}.
 * Numbers, identifiers (resolved by the caller), {@code + - * / // % **}, unary minus, parentheses and
 * {@code int(...)}, {@code float(...)}, with Python's semantics ({@code /} is true division, {@code //}
 * floors, {@code **} binds tighter than unary minus on its left).
 */
final class Expr {
    private final String text;
    private final Function<String, Object> resolve;
    private int pos;

    private Expr(String text, Function<String, Object> resolve) {
        this.text = text;
        this.resolve = resolve;
    }

    /** Evaluates {@code text}; identifiers go through {@code resolve}. Returns Long, Double, Boolean or String. */
    static Object eval(String text, Function<String, Object> resolve) {
        Expr e = new Expr(text, resolve);
        Object v = e.sum();
        e.skipSpaces();
        if (e.pos != text.length()) {
            throw e.error("unexpected '" + text.substring(e.pos) + "'");
        }
        return v;
    }

    private ConfigException error(String what) {
        return new ConfigException("in expression ${" + text + "}: " + what);
    }

    private void skipSpaces() {
        while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
            pos++;
        }
    }

    private boolean eat(String op) {
        skipSpaces();
        if (text.startsWith(op, pos)) {
            pos += op.length();
            return true;
        }
        return false;
    }

    private Object sum() {
        Object v = product();
        while (true) {
            if (eat("+")) {
                v = arith('+', v, product());
            } else if (peekMinus()) {
                pos++;
                v = arith('-', v, product());
            } else {
                return v;
            }
        }
    }

    private boolean peekMinus() {
        skipSpaces();
        return pos < text.length() && text.charAt(pos) == '-';
    }

    private Object product() {
        Object v = unary();
        while (true) {
            skipSpaces();
            if (text.startsWith("//", pos)) {
                pos += 2;
                v = arith('f', v, unary());
            } else if (text.startsWith("*", pos) && !text.startsWith("**", pos)) {
                pos++;
                v = arith('*', v, unary());
            } else if (text.startsWith("/", pos)) {
                pos++;
                v = arith('/', v, unary());
            } else if (text.startsWith("%", pos)) {
                pos++;
                v = arith('%', v, unary());
            } else {
                return v;
            }
        }
    }

    private Object unary() {
        if (eat("-")) {
            return arith('-', 0L, unary());
        }
        if (eat("+")) {
            return unary();
        }
        return power();
    }

    private Object power() {
        Object base = atom();
        if (eat("**")) {
            return arith('^', base, unary());
        }
        return base;
    }

    private Object atom() {
        skipSpaces();
        if (pos >= text.length()) {
            throw error("expression ends too early");
        }
        char c = text.charAt(pos);
        if (c == '(') {
            pos++;
            Object v = sum();
            if (!eat(")")) {
                throw error("missing ')'");
            }
            return v;
        }
        if (Character.isDigit(c) || c == '.') {
            int start = pos;
            while (pos < text.length() && (Character.isDigit(text.charAt(pos)) || text.charAt(pos) == '.'
                    || text.charAt(pos) == '_')) {
                pos++;
            }
            if (pos < text.length() && (text.charAt(pos) == 'e' || text.charAt(pos) == 'E')) {
                pos++;
                if (pos < text.length() && (text.charAt(pos) == '-' || text.charAt(pos) == '+')) {
                    pos++;
                }
                while (pos < text.length() && Character.isDigit(text.charAt(pos))) {
                    pos++;
                }
            }
            String num = text.substring(start, pos).replace("_", "");
            try {
                if (num.contains(".") || num.contains("e") || num.contains("E")) {
                    return Double.parseDouble(num);
                }
                return Long.parseLong(num);
            } catch (NumberFormatException e) {
                throw error("bad number '" + num + "'");
            }
        }
        if (Character.isLetter(c) || c == '_') {
            int start = pos;
            while (pos < text.length() && (Character.isLetterOrDigit(text.charAt(pos)) || text.charAt(pos) == '_'
                    || text.charAt(pos) == '.')) {
                pos++;
            }
            String name = text.substring(start, pos);
            if ((name.equals("int") || name.equals("float")) && eat("(")) {
                Object v = sum();
                if (!eat(")")) {
                    throw error("missing ')' after " + name + "(");
                }
                double d = number(v);
                return name.equals("int") ? (Object) (long) d : (Object) d;
            }
            return switch (name) {
                case "True", "true" -> Boolean.TRUE;
                case "False", "false" -> Boolean.FALSE;
                default -> resolve.apply(name);
            };
        }
        throw error("unexpected '" + c + "'");
    }

    private double number(Object v) {
        if (v instanceof Long l) {
            return l;
        }
        if (v instanceof Double d) {
            return d;
        }
        throw error("'" + v + "' is not a number");
    }

    private Object arith(char op, Object a, Object b) {
        if (a instanceof Long x && b instanceof Long y) {
            return switch (op) {
                case '+' -> Math.addExact(x, y);
                case '-' -> Math.subtractExact(x, y);
                case '*' -> Math.multiplyExact(x, y);
                case '/' -> (double) x / y;
                case 'f' -> {
                    if (y == 0) {
                        throw error("division by zero");
                    }
                    yield Math.floorDiv(x, y);
                }
                case '%' -> {
                    if (y == 0) {
                        throw error("division by zero");
                    }
                    yield Math.floorMod(x, y);
                }
                case '^' -> y >= 0 ? pow(x, y) : Math.pow(x, y);
                default -> throw error("bad operator " + op);
            };
        }
        double x = number(a);
        double y = number(b);
        return switch (op) {
            case '+' -> x + y;
            case '-' -> x - y;
            case '*' -> x * y;
            case '/' -> x / y;
            case 'f' -> Math.floor(x / y);
            case '%' -> x - Math.floor(x / y) * y;
            case '^' -> Math.pow(x, y);
            default -> throw error("bad operator " + op);
        };
    }

    private long pow(long base, long exp) {
        long r = 1;
        for (long i = 0; i < exp; i++) {
            r = Math.multiplyExact(r, base);
        }
        return r;
    }
}
