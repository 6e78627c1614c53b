package dev.bnorm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.bnorm.ffi.bn_h;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Every flag, mask bit and layout code the Java side passes to C is bn.h's value, read from the
 * bindings (which BindingsTest ties to bn.h itself), and every flag of bn.h has its Java twin.
 */
class ConstantsTest {

    @Test
    void flagsAndMaskBitsAreThoseOfBnH() throws Exception {
        Set<String> java = new TreeSet<>();
        for (Field f : BatchNormKernels.class.getFields()) {
            if (f.getType() != int.class || !Modifier.isStatic(f.getModifiers())) continue;
            java.add("BN_" + f.getName());
            assertEquals(constant("BN_" + f.getName()), f.getInt(null), "BatchNormKernels." + f.getName());
        }
        Set<String> header = new TreeSet<>();
        for (Method m : bn_h.class.getMethods()) {
            if (m.getName().matches("BN_(USE|UPDATE|DIFF|FUSE|DATA)_\\w+") && m.getParameterCount() == 0) header.add(m.getName());
        }
        assertEquals(header, java, "flags of bn.h and of BatchNormKernels");
    }

    @Test
    void layoutCodesAreThoseOfBnH() throws Exception {
        Set<String> header = new TreeSet<>();
        for (Method m : bn_h.class.getMethods()) {
            if (m.getName().startsWith("BN_LAYOUT_") && m.getParameterCount() == 0) header.add(m.getName());
        }
        Set<String> java = new TreeSet<>();
        for (Layout l : Layout.values()) {
            java.add("BN_LAYOUT_" + l.name());
            assertEquals(constant("BN_LAYOUT_" + l.name()), l.code, "Layout." + l.name() + ".code");
        }
        assertEquals(header, java, "layouts of bn.h and of Layout");
        assertTrue(header.size() >= 3, header.toString());
    }

    private static int constant(String name) throws Exception {
        return (int) bn_h.class.getMethod(name).invoke(null);
    }
}
