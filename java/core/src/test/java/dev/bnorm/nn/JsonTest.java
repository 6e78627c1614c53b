package dev.bnorm.nn;

import static dev.bnorm.nn.Fixtures.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
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
}
