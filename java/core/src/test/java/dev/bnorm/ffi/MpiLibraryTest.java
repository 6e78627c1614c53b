package dev.bnorm.ffi;

import dev.bnorm.NativeLibraryException;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The MPI library's loader says what is wrong and what to install. */
class MpiLibraryTest {

    @Test
    void aMissingFileNamesThePackageToInstall() {
        var e = assertThrows(NativeLibraryException.class, () -> MpiLibrary.find("/nonexistent/libmpi.so.40", null));
        assertEquals("-Dbnorm.mpi.library names /nonexistent/libmpi.so.40, which is not a file. Give the path of Open "
                + "MPI's libmpi.so.40, or install Open MPI: apt-get install openmpi-bin libopenmpi-dev", e.getMessage());
        e = assertThrows(NativeLibraryException.class, () -> MpiLibrary.find(null, "/nonexistent/libmpi.so"));
        assertEquals("BNORM_MPI_LIBRARY names /nonexistent/libmpi.so, which is not a file. Give the path of Open "
                + "MPI's libmpi.so.40, or install Open MPI: apt-get install openmpi-bin libopenmpi-dev", e.getMessage());
    }

    @Test
    void aLibraryThatIsNotOpenMpiIsRefusedSayingWhy() {
        NativeLibrary.load();
        Path bnorm = NativeLibrary.load().path();
        var e = assertThrows(NativeLibraryException.class, () -> MpiLibrary.find(bnorm.toString(), null));
        assertEquals("the MPI library " + bnorm + " (-Dbnorm.mpi.library) is not Open MPI (it does not export "
                + "ompi_mpi_comm_world): bnorm supports Open MPI only (MPICH's handles are integer constants, not "
                + "symbols). Install Open MPI: apt-get install openmpi-bin libopenmpi-dev", e.getMessage());
    }
}
