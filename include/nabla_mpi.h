/* nabla_mpi.h - data-parallel training across processes and hosts with MPI,
 * for nabla built with MPI (meson -Dmpi=enabled, or auto when found).  A
 * header of its own, so that programs without MPI never see mpi.h.
 * Compile with mpicc, or with the flags of `pkg-config --cflags --libs
 * nabla_nn ompi-c` (OpenMPI; mpich for MPICH).
 *
 * Each rank (process) holds a replica of the model.  Every rank runs the
 * same loop over the same global batches (same seed, same order); with a
 * communicator, nb_mlp_train_step takes rank r's shard of each global batch
 * of R rows, rows [R r / N, R (r + 1) / N) of N ranks, runs forward and
 * backward on it (on the model's workers if it has them) with the gradient
 * weighted by the shard's share of the rows, and sums the gradients of all
 * ranks with one in-place MPI_Allreduce over one buffer: every parameter's
 * gradient, the loss and a failure count.  Every rank then applies the same
 * update, so the parameters stay the same bits on every rank and equal
 * single-process training on the same batches up to rounding.  The
 * allreduce starts after backward: it does not overlap it.
 *
 *     MPI_Init(&argc, &argv);
 *     nb_mlp *m = nb_mlp_new(&opts, &err);
 *     if (nb_mlp_set_comm(m, MPI_COMM_WORLD, &err) == NB_OK)
 *         nb_train(m, &train, &test, &topts, &res, &err);  // on every rank
 *     nb_mlp_free(m);
 *     MPI_Finalize();
 *
 * With a communicator these calls are collective (every rank of it must
 * make them, in the same order): nb_mlp_train_step, nb_mlp_evaluate (each
 * rank evaluates its share of the rows; the sums are reduced),
 * nb_train, and the functions below.  Failures: a step or evaluation that
 * fails on one rank (bad data, a non-finite loss, no memory) fails on every
 * rank with that rank's code and message, "rank K: ...", the lowest such
 * rank's; nothing hangs and nothing exits.  MPI's own failures (a lost host)
 * are MPI's: its default error handler ends the job.
 *
 * nb_train with a communicator: the same batches as without one; progress
 * lines and the loss CSV come from rank 0 only (opts->on_epoch is called
 * on every rank, with the same figures); a batch, the epoch's last among
 * them, with fewer rows than ranks is an error (NB_ERR_ARG); the replicas'
 * parameters are compared (nb_mlp_check_replicas) after every epoch;
 * samples_per_second counts the whole job's samples. */
#ifndef NABLA_MPI_H
#define NABLA_MPI_H

#include <mpi.h>
#include <stdint.h>

#include "nabla_nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Train m across the ranks of comm (collective over comm).  comm is
 * borrowed, not duplicated: it must stay valid while m uses it, and m never
 * frees it.  Every rank's model must have the same parameter shapes
 * (NB_ERR_SHAPE on every rank otherwise); rank 0's parameters are then
 * copied to every rank, so the replicas start the same whatever their
 * seeds.  MPI_COMM_NULL (on every rank) detaches m: it trains alone again.
 * NB_ERR_NOMEM if the gradient buffer cannot be allocated (on any rank). */
NB_API nb_status nb_mlp_set_comm(nb_mlp *m, MPI_Comm comm, nb_err *err);

/* Rank root's model on every rank of comm (collective): root passes its
 * model and gets it back; every other rank passes NULL and gets a new model
 * with root's options and parameters (free it).  For a model restored from
 * a checkpoint on one rank (nb_mlp_open).  NULL on every rank if it fails
 * on any (err says why, as for nb_comm_agree). */
NB_API nb_mlp *nb_mlp_bcast(nb_mlp *m, int root, MPI_Comm comm, nb_err *err);

/* Compare the replicas (collective over m's communicator): a 64-bit
 * FNV-1a hash of m's parameters' bytes, in *hash (may be NULL), is the same
 * on every rank, or NB_ERR_ARG on every rank, naming the hashes.  NB_ERR_ARG
 * without a communicator. */
NB_API nb_status nb_mlp_check_replicas(nb_mlp *m, uint64_t *hash, nb_err *err);

/* Agree on a status (collective over comm): every rank passes its own s
 * and err (the message of its failure, if s is not NB_OK).  NB_OK on every
 * rank if s is NB_OK everywhere; else the code of the lowest failing rank K
 * on every rank, and err (if not NULL) gets its message as "rank K: ..."
 * (without the prefix when comm has one rank).  For a program's own steps around training:
 * loading files, say, so that one rank's missing file stops every rank. */
NB_API nb_status nb_comm_agree(MPI_Comm comm, nb_status s, nb_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_MPI_H */
