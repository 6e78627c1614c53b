/*
 * bn_mpi.h - the subset of Open MPI 4.1's mpi.h that dev.bnorm.ffi.mpi_h binds (MpiCollective):
 * the functions bnorm calls and the predefined handles it passes. Not part of libbnorm; a test
 * (MpiBindingsTest) keeps this file and the Java bindings in agreement.
 *
 * Open MPI's handles (MPI_Comm, MPI_Datatype) are pointers to its predefined objects, which the
 * library exports as symbols: MPI_COMM_WORLD is &ompi_mpi_comm_world, MPI_DOUBLE is
 * &ompi_mpi_double, MPI_BYTE is &ompi_mpi_byte. (MPICH's handles are integer constants instead,
 * and its symbols differ: MPICH is not supported.)
 */
#ifndef BN_MPI_H
#define BN_MPI_H

typedef struct ompi_communicator_t *MPI_Comm;
typedef struct ompi_datatype_t *MPI_Datatype;

#define MPI_SUCCESS 0
#define MPI_THREAD_SINGLE 0
#define MPI_THREAD_FUNNELED 1
#define MPI_THREAD_SERIALIZED 2
#define MPI_THREAD_MULTIPLE 3

extern struct ompi_predefined_communicator_t ompi_mpi_comm_world;
extern struct ompi_predefined_datatype_t ompi_mpi_double;
extern struct ompi_predefined_datatype_t ompi_mpi_byte;

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided);
int MPI_Initialized(int *flag);
int MPI_Finalized(int *flag);
int MPI_Finalize(void);
int MPI_Comm_rank(MPI_Comm comm, int *rank);
int MPI_Comm_size(MPI_Comm comm, int *size);
int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm);
int MPI_Barrier(MPI_Comm comm);
int MPI_Abort(MPI_Comm comm, int errorcode);

#endif /* BN_MPI_H */
