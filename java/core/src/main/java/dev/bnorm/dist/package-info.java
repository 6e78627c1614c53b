/**
 * Collective operations for data-parallel training: {@link dev.bnorm.dist.Collective} (all-gather
 * and all-reduce of doubles in rank order, broadcast, barrier, abort), over threads of one JVM
 * ({@link dev.bnorm.dist.InProcessCollective}) or the processes of an MPI job
 * ({@link dev.bnorm.dist.MpiCollective}, Open MPI through FFM).
 * {@link dev.bnorm.nn.SyncBatchNorm} and {@link dev.bnorm.nn.DataParallel} build on them.
 */
package dev.bnorm.dist;
