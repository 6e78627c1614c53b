package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JsonTest {

    @Test
    void parsesEveryKindOfValue() {
        Object v = Json.parse(" {\"a\" : [1, -2, 0, 3.5, -1e3, 9223372036854775808], \"b\":{}, \"c\":[],"
                + " \"d\":\"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\", \"e\":true, \"f\":false, \"g\":null} \n");
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("a", List.of(1L, -2L, 0L, 3.5, -1000.0, new BigInteger("9223372036854775808")));
        expected.put("b", Map.of());
        expected.put("c", List.of());
        expected.put("d", "x\"\\/\b\f\n\r\t\u00e9\ud83d\ude00");
        expected.put("e", true);
        expected.put("f", false);
        expected.put("g", Json.NULL);
        assertEquals(expected, v);
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(((Map<?, ?>) v).keySet()), "insertion order");
    }

    @Test
    void quoteRoundTrips() {
        String s = "a\"b\\c\nd\u0001\u00e9";
        assertEquals(s, Json.parse(Json.quote(s)));
    }

    @ParameterizedTest(name = "[{index}] {1}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "``                        | expected a value, got the end of the text",
        "`{\"a\":1,}`              | expected a string key, got '}'",
        "`[1,2,]`                  | expected a value, got ']'",
        "`[01]`                    | expected ',' or ']' in an array, got '1'",
        "`[1.]`                    | expected a digit after '.'",
        "`[.5]`                    | expected a value, got '.'",
        "`[+1]`                    | expected a value, got '+'",
        "`[1e]`                    | expected a digit in the exponent",
        "`[NaN]`                   | expected a value, got 'N'",
        "`[1e999]`                 | expected a number within the range of a double",
        "`{'a':1}`                 | expected a string key, got '''",
        "`{\"a\":1 /* c */}`       | expected ',' or '}' in an object, got '/'",
        "`{\"a\":1,\"a\":2}`       | duplicate key \"a\"",
        "`{\"a\":1} 2`             | expected the end of the text after the value",
        "`[\"a`                    | expected '\"' to end the string",
        "`[\"\\x\"]`               | expected one of \"\\/bfnrtu after '\\', got 'x'",
        "`[\"\\u12g4\"]`           | expected a hex digit after \\u, got 'g'",
        "`[\"\\ud800\"]`           | got a lone U+D800",
        "`[\"\\udc00\\ud800\"]`    | got a lone U+DC00",
        "`[tru]`                   | expected true",
        "`{\"a\" 1}`               | expected ':', got '1'",
        "`[1 2]`                   | expected ',' or ']' in an array, got '2'",
    })
    void refusesWhatIsNotStrictJson(String text, String message) {
        assertMessage(IllegalArgumentException.class, message, () -> Json.parse(text));
    }

    @Test
    void refusesRawControlCharactersAndDeepNesting() {
        assertMessage(IllegalArgumentException.class, "expected no raw control character in a string, got U+000A",
                () -> Json.parse("[\"a\nb\"]"));
        char[] deep = new char[2 * 65];
        Arrays.fill(deep, 0, 65, '[');
        Arrays.fill(deep, 65, 130, ']');
        assertMessage(IllegalArgumentException.class, "expected at most 64 levels of nesting", () -> Json.parse(new String(deep)));
        assertEquals(List.of(List.of()), Json.parse("[[]]"));
    }

    /**
     * A million-digit integer is refused at the length bound, before any conversion (BigInteger's
     * would take O(n²): 14 s here). The timeout is only a backstop, far above what a linear scan
     * of a megabyte needs even on a loaded machine; the assertion is the message.
     */
    @Test
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void refusesOverlongTokensAtTheirBound() {
        String digits = "7".repeat(1_000_000);
        assertMessage(IllegalArgumentException.class,
                "at offset 1: expected a number of at most 100 characters, got 1000000", () -> Json.parse("[" + digits + "]"));
        assertMessage(IllegalArgumentException.class, "at offset 5: expected a number of at most 100 characters, got 1000003",
                () -> Json.parse("{\"a\":-" + digits + ".5}"));
        String longest = "-" + "9".repeat(Json.MAX_NUMBER_LENGTH - 1); // at the bound: still parsed
        assertEquals(List.of(new BigInteger(longest)), Json.parse("[" + longest + "]"));

        assertMessage(IllegalArgumentException.class, "at offset " + (1 + 1 + Json.MAX_STRING_LENGTH)
                + ": expected a string of at most " + Json.MAX_STRING_LENGTH + " characters, got more",
                () -> Json.parse("[\"" + "a".repeat(Json.MAX_STRING_LENGTH + 1) + "\"]"));
        assertEquals(Json.MAX_STRING_LENGTH, ((String) ((List<?>) Json.parse("[\"" + "a".repeat(Json.MAX_STRING_LENGTH)
                + "\"]")).get(0)).length());

        String zeros = "0,".repeat(Json.MAX_VALUES - 2);
        assertEquals(Json.MAX_VALUES - 1, ((List<?>) Json.parse("[" + zeros + "0]")).size()); // the root counts one
        assertMessage(IllegalArgumentException.class, "expected at most " + Json.MAX_VALUES + " values in the text, got more",
                () -> Json.parse("[" + zeros + "0,0]"));
    }
}
