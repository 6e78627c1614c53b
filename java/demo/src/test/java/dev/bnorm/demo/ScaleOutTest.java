package dev.bnorm.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The scale-out demo on in-process ranks: P ranks of B samples match one process of P*B. */
class ScaleOutTest {

    static String[] run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            code = ScaleOut.run(o, e, args);
        }
        return new String[] {Integer.toString(code), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void twoRanksOfThirtyMatchOneProcessOfSixty() {
        String[] r = run("--steps", "40");
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[1].contains("2 ranks (threads) x 30 samples") && r[1].contains("1 process x 60 samples"), r[1]);
        assertTrue(r[1].contains("match: yes"), r[1]);
    }

    @Test
    void threeRanksOfTwentyMatchOneProcessOfSixty() {
        String[] r = run("--steps", "20", "--ranks", "3", "-b", "20");
        assertEquals("0", r[0], r[1] + r[2]);
        assertTrue(r[1].contains("match: yes"), r[1]);
    }
}
