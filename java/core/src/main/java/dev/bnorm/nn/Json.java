package dev.bnorm.nn;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader and string quoting for the safetensors header (RFC 8259; no
 * library). Values: {@code Map<String, Object>} (insertion order), {@code List<Object>},
 * {@code String}, {@code Long} (an integer that fits), {@code BigInteger} (a larger integer),
 * {@code Double} (a number with a fraction or exponent), {@code Boolean}, and {@link #NULL}.
 *
 * <p>Rejected, with an {@link IllegalArgumentException} naming the offset: anything outside the
 * grammar (trailing commas, comments, single quotes, leading zeros, NaN), raw control characters
 * and unpaired surrogates in strings, duplicate keys in an object, content after the value, and
 * nesting deeper than {@value #MAX_DEPTH}.
 *
 * <p>Every token is bounded, so that parsing takes time linear in the length of the text and a
 * hostile text cannot make the parser spend more than a constant per character: a number literal
 * has at most {@value #MAX_NUMBER_LENGTH} characters (a 64-bit integer needs 20), a string at most
 * {@value #MAX_STRING_LENGTH} characters, and the whole text at most {@value #MAX_VALUES} values
 * (every array element, object entry and the root count one). Without the first bound one integer
 * literal of n digits costs O(n²) ({@code BigInteger}'s decimal conversion); the last bounds the
 * heap the parsed tree takes (a value costs up to about 100 bytes of heap, whatever its length in
 * the text).
 */
final class Json {

    /** The JSON {@code null}. */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    static final int MAX_DEPTH = 64;
    static final int MAX_NUMBER_LENGTH = 100;
    static final int MAX_STRING_LENGTH = 1 << 24;
    static final int MAX_VALUES = 1 << 20;

    private final String s;
    private int pos;
    private int values;

    private Json(String s) {
        this.s = s;
    }

    /** Parses one JSON value that makes up all of {@code text} (surrounding whitespace allowed). */
    static Object parse(String text) {
        Json p = new Json(text);
        p.skipSpace();
        Object v = p.value(0);
        p.skipSpace();
        if (p.pos != text.length()) {
            throw p.error("expected the end of the text after the value, got '" + text.charAt(p.pos) + "'");
        }
        return v;
    }

    /** {@code value} as a JSON string literal. */
    static String quote(String value) {
        StringBuilder sb = new StringBuilder(value.length() + 2).append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    private Object value(int depth) {
        if (pos >= s.length()) {
            throw error("expected a value, got the end of the text");
        }
        if (++values > MAX_VALUES) {
            throw error("expected at most " + MAX_VALUES + " values in the text, got more");
        }
        char c = s.charAt(pos);
        return switch (c) {
            case '{' -> object(depth + 1);
            case '[' -> array(depth + 1);
            case '"' -> string();
            case 't' -> literal("true", Boolean.TRUE);
            case 'f' -> literal("false", Boolean.FALSE);
            case 'n' -> literal("null", NULL);
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) {
                    yield number();
                }
                throw error("expected a value, got '" + c + "'");
            }
        };
    }

    private Map<String, Object> object(int depth) {
        checkDepth(depth);
        pos++; // {
        Map<String, Object> map = new LinkedHashMap<>();
        skipSpace();
        if (peek() == '}') {
            pos++;
            return map;
        }
        while (true) {
            skipSpace();
            if (peek() != '"') {
                throw error("expected a string key, got " + describePeek());
            }
            int keyAt = pos;
            String key = string();
            skipSpace();
            expect(':');
            skipSpace();
            Object v = value(depth);
            if (map.containsKey(key)) {
                pos = keyAt;
                throw error("duplicate key " + quote(key));
            }
            map.put(key, v);
            skipSpace();
            char c = peek();
            pos++;
            if (c == '}') {
                return map;
            }
            if (c != ',') {
                pos--;
                throw error("expected ',' or '}' in an object, got " + describePeek());
            }
        }
    }

    private List<Object> array(int depth) {
        checkDepth(depth);
        pos++; // [
        List<Object> list = new ArrayList<>();
        skipSpace();
        if (peek() == ']') {
            pos++;
            return list;
        }
        while (true) {
            skipSpace();
            list.add(value(depth));
            skipSpace();
            char c = peek();
            pos++;
            if (c == ']') {
                return list;
            }
            if (c != ',') {
                pos--;
                throw error("expected ',' or ']' in an array, got " + describePeek());
            }
        }
    }

    private String string() {
        pos++; // opening quote
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= s.length()) {
                throw error("expected '\"' to end the string, got the end of the text");
            }
            if (sb.length() >= MAX_STRING_LENGTH && s.charAt(pos) != '"') {
                throw error("expected a string of at most " + MAX_STRING_LENGTH + " characters, got more");
            }
            char c = s.charAt(pos++);
            if (c == '"') {
                break;
            }
            if (c < 0x20) {
                pos--;
                throw error("expected no raw control character in a string, got U+" + String.format("%04X", (int) c));
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            if (pos >= s.length()) {
                throw error("expected an escape after '\\', got the end of the text");
            }
            char e = s.charAt(pos++);
            switch (e) {
                case '"' -> sb.append('"');
                case '\\' -> sb.append('\\');
                case '/' -> sb.append('/');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'u' -> sb.append(hex4());
                default -> {
                    pos--;
                    throw error("expected one of \"\\/bfnrtu after '\\', got '" + e + "'");
                }
            }
        }
        String result = sb.toString();
        for (int i = 0; i < result.length(); i++) { // surrogates must pair up
            char c = result.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < result.length() && Character.isLowSurrogate(result.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw error("expected paired surrogates in the string before this point, got a lone U+"
                        + String.format("%04X", (int) c));
            }
        }
        return result;
    }

    private char hex4() {
        if (pos + 4 > s.length()) {
            throw error("expected 4 hex digits after \\u, got the end of the text");
        }
        int v = 0;
        for (int i = 0; i < 4; i++) {
            int d = Character.digit(s.charAt(pos), 16);
            if (d < 0 || s.charAt(pos) > 'f') {
                throw error("expected a hex digit after \\u, got '" + s.charAt(pos) + "'");
            }
            v = v * 16 + d;
            pos++;
        }
        return (char) v;
    }

    private Object number() {
        int start = pos;
        if (peek() == '-') {
            pos++;
        }
        if (peek() == '0') {
            pos++;
        } else if (isDigit(peek())) {
            digits();
        } else {
            throw error("expected a digit, got " + describePeek());
        }
        boolean integer = true;
        if (peek() == '.') {
            integer = false;
            pos++;
            if (!isDigit(peek())) {
                throw error("expected a digit after '.', got " + describePeek());
            }
            digits();
        }
        if (peek() == 'e' || peek() == 'E') {
            integer = false;
            pos++;
            if (peek() == '+' || peek() == '-') {
                pos++;
            }
            if (!isDigit(peek())) {
                throw error("expected a digit in the exponent, got " + describePeek());
            }
            digits();
        }
        checkNumberLength(start);
        String text = s.substring(start, pos);
        if (integer) {
            BigInteger big = new BigInteger(text);
            return big.bitLength() < 64 ? (Object) big.longValue() : big;
        }
        double d = Double.parseDouble(text);
        if (!Double.isFinite(d)) {
            pos = start;
            throw error("expected a number within the range of a double, got " + text);
        }
        return d;
    }

    private void digits() {
        while (isDigit(peek())) {
            pos++;
        }
    }

    /** Called with {@code pos} just past the number that began at {@code start}. */
    private void checkNumberLength(int start) {
        int length = pos - start;
        if (length > MAX_NUMBER_LENGTH) {
            pos = start;
            throw error("expected a number of at most " + MAX_NUMBER_LENGTH + " characters, got " + length);
        }
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private Object literal(String word, Object value) {
        if (!s.startsWith(word, pos)) {
            throw error("expected " + word + ", got " + describePeek());
        }
        pos += word.length();
        return value;
    }

    private void expect(char c) {
        if (peek() != c) {
            throw error("expected '" + c + "', got " + describePeek());
        }
        pos++;
    }

    /** The current character, or U+0000 at the end (never valid where a token is expected). */
    private char peek() {
        return pos < s.length() ? s.charAt(pos) : '\0';
    }

    private String describePeek() {
        return pos < s.length() ? "'" + s.charAt(pos) + "'" : "the end of the text";
    }

    private void skipSpace() {
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            pos++;
        }
    }

    private void checkDepth(int depth) {
        if (depth > MAX_DEPTH) {
            throw error("expected at most " + MAX_DEPTH + " levels of nesting, got more");
        }
    }

    private IllegalArgumentException error(String message) {
        return new IllegalArgumentException("at offset " + pos + ": " + message);
    }
}
