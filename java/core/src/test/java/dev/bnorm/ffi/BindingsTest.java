package dev.bnorm.ffi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** bn.h and the jextract-shaped bindings in bn_h must agree, function by function and constant by constant. */
class BindingsTest {

    @org.junit.jupiter.api.BeforeAll
    static void load() {
        NativeLibrary.load(); // bn_h resolves symbols through the loader lookup: load before any holder initializes
    }

    private static final Pattern FUNCTION = Pattern.compile("BN_API\\s+([^;(]*?)\\b(\\w+)\\s*\\(([^)]*)\\)\\s*;", Pattern.DOTALL);
    private static final Pattern ENUM_CONSTANT = Pattern.compile("^\\s*(BN_[A-Z0-9_]+)\\s*=\\s*(\\d+)\\s*,?", Pattern.MULTILINE);
    private static final Pattern MACRO_CONSTANT = Pattern.compile("^#define\\s+(BN_[A-Z0-9_]+)\\s+(0x[0-9a-fA-F]+|\\d+)u?\\s*$", Pattern.MULTILINE);

    static String header() throws IOException {
        return Files.readString(Path.of(System.getProperty("bnorm.test.header", "../../native/include/bn.h")));
    }

    /** C prototypes of bn.h, name to descriptor, from the C text alone. */
    static Map<String, FunctionDescriptor> prototypes(String header) {
        Map<String, FunctionDescriptor> result = new LinkedHashMap<>();
        String code = header.replaceAll("(?s)/\\*.*?\\*/", " ");
        Matcher m = FUNCTION.matcher(code);
        while (m.find()) {
            MemoryLayout ret = layoutOf(m.group(1), m.group(2) + " return");
            List<MemoryLayout> args = new ArrayList<>();
            String params = m.group(3).trim();
            if (!params.equals("void")) {
                for (String p : params.split(",")) {
                    String type = p.trim().replaceAll("\\w+$", "");
                    args.add(layoutOf(type, m.group(2) + " parameter '" + p.trim() + "'"));
                }
            }
            result.put(m.group(2), FunctionDescriptor.of(ret, args.toArray(MemoryLayout[]::new)));
        }
        return result;
    }

    static MemoryLayout layoutOf(String cType, String what) {
        String t = cType.replace("const", " ").replace("restrict", " ").replaceAll("\\s+", " ").trim();
        if (t.endsWith("*")) return ValueLayout.ADDRESS;
        return switch (t) {
            case "int", "unsigned int", "bn_status", "uint32_t", "int32_t" -> ValueLayout.JAVA_INT;
            case "int64_t", "uint64_t", "size_t" -> ValueLayout.JAVA_LONG;
            case "float" -> ValueLayout.JAVA_FLOAT;
            case "double" -> ValueLayout.JAVA_DOUBLE;
            default -> throw new AssertionError("BindingsTest does not know the C type '" + t + "' of " + what);
        };
    }

    /** Descriptors compared by carrier and size only (names and pointer target layouts do not matter to the ABI). */
    static String shape(FunctionDescriptor d) {
        StringBuilder b = new StringBuilder();
        b.append(d.returnLayout().map(BindingsTest::shape).orElse("void")).append('(');
        for (MemoryLayout l : d.argumentLayouts()) b.append(shape(l)).append(',');
        return b.append(')').toString();
    }

    static String shape(MemoryLayout l) {
        return ((ValueLayout) l).carrier().getSimpleName() + l.byteSize();
    }

    @Test
    void everyHeaderFunctionHasABindingWithTheSameDescriptor() throws Exception {
        Map<String, FunctionDescriptor> protos = prototypes(header());
        assertTrue(protos.size() >= 5, "parsed only " + protos.keySet() + " from bn.h");
        for (var e : protos.entrySet()) {
            String name = e.getKey();
            Method desc = find(name + "$descriptor").orElseThrow(
                    () -> new AssertionError("bn.h declares " + name + " but bn_h has no " + name + "$descriptor()"));
            find(name + "$handle").orElseThrow(() -> new AssertionError("bn_h has no " + name + "$handle()"));
            find(name + "$address").orElseThrow(() -> new AssertionError("bn_h has no " + name + "$address()"));
            FunctionDescriptor bound = (FunctionDescriptor) desc.invoke(null);
            assertEquals(shape(e.getValue()), shape(bound), "descriptor of " + name + " disagrees with bn.h");
            Method wrapper = find(name).orElseThrow(() -> new AssertionError("bn_h has no wrapper " + name + "(...)"));
            assertEquals(bound.toMethodType(), java.lang.invoke.MethodType.methodType(
                    wrapper.getReturnType(), wrapper.getParameterTypes()), "wrapper signature of " + name);
        }
    }

    @Test
    void everyBindingIsDeclaredInTheHeader() throws Exception {
        Map<String, FunctionDescriptor> protos = prototypes(header());
        TreeSet<String> extra = new TreeSet<>();
        for (Method m : bn_h.class.getDeclaredMethods()) {
            if (m.getName().endsWith("$descriptor")) {
                String name = m.getName().substring(0, m.getName().length() - "$descriptor".length());
                if (!protos.containsKey(name)) extra.add(name);
            }
        }
        assertTrue(extra.isEmpty(), "bindings without a BN_API declaration in bn.h: " + extra);
        assertEquals(new TreeSet<>(NativeLibrary.SYMBOLS), new TreeSet<>(protos.keySet()),
                "NativeLibrary.SYMBOLS must list every function of bn.h");
    }

    @Test
    void everyConstantHasTheHeadersValue() throws Exception {
        String h = header();
        Map<String, Long> constants = new LinkedHashMap<>();
        for (Matcher m = ENUM_CONSTANT.matcher(h); m.find(); ) constants.put(m.group(1), Long.decode(m.group(2)));
        for (Matcher m = MACRO_CONSTANT.matcher(h); m.find(); ) constants.put(m.group(1), Long.decode(m.group(2)));
        assertTrue(constants.size() >= 20, "parsed only " + constants.keySet());
        for (var e : constants.entrySet()) {
            Method m = find(e.getKey()).orElseThrow(() -> new AssertionError("bn_h has no constant " + e.getKey() + "()"));
            assertEquals(e.getValue().intValue(), ((Number) m.invoke(null)).intValue(), e.getKey());
        }
    }

    @Test
    void theParserRejectsADisagreeingPrototype() {
        // The check above would be worthless if the parser saw every prototype as matching.
        var changed = prototypes("BN_API bn_status bn_backward(float *dinp, int64_t N);");
        assertFalse(shape(changed.get("bn_backward")).equals(shape(bn_h.bn_backward$descriptor())));
    }

    private static Optional<Method> find(String name) {
        for (Method m : bn_h.class.getDeclaredMethods()) {
            if (m.getName().equals(name) && Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers())) {
                return Optional.of(m);
            }
        }
        return Optional.empty();
    }

}
