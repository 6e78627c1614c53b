package dev.bnorm.readme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.nn.Adam;
import dev.bnorm.nn.Module;
import dev.bnorm.nn.StateDicts;
import java.io.IOException;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Using bnorm" example is {@link Example} (this package's line added): it compiles,
 * runs, and stays identical to the README; without its {@code import dev.bnorm.nn.Module;} it
 * would not compile.
 */
class ReadmeExampleTest {

    static final String PACKAGE_LINE = "package dev.bnorm.readme;\n\n";

    /** The first java code block after "## Using bnorm" in the repository's README.md. */
    static String readmeBlock() throws IOException {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("README.md"))) {
            dir = dir.getParent();
        }
        assertTrue(dir != null, "README.md above " + System.getProperty("user.dir"));
        String readme = Files.readString(dir.resolve("README.md"), StandardCharsets.UTF_8);
        int section = readme.indexOf("\n## Using bnorm\n");
        assertTrue(section >= 0, "README.md has a section \"## Using bnorm\"");
        int start = readme.indexOf("```java\n", section) + "```java\n".length();
        return readme.substring(start, readme.indexOf("```\n", start));
    }

    static String exampleSource() throws IOException {
        return Files.readString(Path.of("src/test/java/dev/bnorm/readme/Example.java"), StandardCharsets.UTF_8);
    }

    @Test
    void theReadmeExampleIsThisPackagesExample() throws IOException {
        assertEquals(PACKAGE_LINE + readmeBlock(), exampleSource(),
                "README.md's \"Using bnorm\" code block and src/test/java/dev/bnorm/readme/Example.java must be the same");
    }

    @Test
    void theReadmeExampleTrainsPredictsAndSavesACheckpoint(@TempDir Path dir) throws IOException {
        Random random = new Random(5);
        float[][] x = new float[3][64 * 64];
        int[][] y = new int[3][64];
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < x[k].length; i++) {
                x[k][i] = (float) random.nextGaussian();
            }
            for (int i = 0; i < 64; i++) {
                y[k][i] = random.nextInt(10);
            }
        }
        int[] predicted = Example.train(x, y, dir);
        assertEquals(64, predicted.length);
        try (Module model = Example.mlp();
             Adam adam = Adam.builder(model.parameters()).build()) {
            StateDicts.load(model, dir.resolve("model.safetensors"));
            StateDicts.load(adam, dir.resolve("adam.safetensors"));
            assertEquals(3, adam.steps(0));
            assertEquals(3L, model.counters().get("1.num_batches_tracked").get());
        }
    }

    @Test
    void withoutTheExplicitImportModuleIsAmbiguous() throws IOException {
        String source = PACKAGE_LINE + readmeBlock();
        assertEquals(List.of(), compile(source), "the README block as written");
        String withoutImport = source.replace("import dev.bnorm.nn.Module;", "");
        List<String> errors = compile(withoutImport);
        assertTrue(errors.stream().anyMatch(e -> e.contains("reference to Module is ambiguous")), errors.toString());
    }

    /** javac's error messages for {@code source} as Example.java, compiled against the test class path. */
    static List<String> compile(String source) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        JavaFileObject file = new SimpleJavaFileObject(URI.create("string:///dev/bnorm/readme/Example.java"),
                JavaFileObject.Kind.SOURCE) {
            @Override
            public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                return source;
            }
        };
        Path out = Files.createTempDirectory("readme-example");
        try {
            javax.tools.DiagnosticCollector<JavaFileObject> diagnostics = new javax.tools.DiagnosticCollector<>();
            javac.getTask(new StringWriter(), null, diagnostics, List.of("-proc:none", "-d", out.toString(),
                    "-cp", System.getProperty("java.class.path") + java.io.File.pathSeparator
                            + System.getProperty("jdk.module.path", "")), null, List.of(file)).call();
            return diagnostics.getDiagnostics().stream()
                    .filter(d -> d.getKind() == javax.tools.Diagnostic.Kind.ERROR)
                    .map(d -> d.getMessage(java.util.Locale.ROOT)).toList();
        } finally {
            try (var files = Files.walk(out)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
