/* train_job.c - `mpirun -n N nabla train ...`: the job across processes
 * when nabla is built with MPI (NB_HAVE_MPI), and one process otherwise.
 * Rank 0 speaks for the job; the other ranks agree with it at each step
 * that can fail, so one rank's error stops all of them with its message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

#if NB_HAVE_MPI
#include "nabla_mpi.h"

/* Launchers that start ranks: OpenMPI's mpirun, MPICH's Hydra, PMIx (and
 * Slurm's srun through either); without one, nabla runs alone and never
 * initialises MPI. */
static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

/* Threads per rank when --threads is not given: the cores shared by the
 * ranks on this host, so that ranks do not oversubscribe it. */
static void share_cores(void)
{
    MPI_Comm host;
    int local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &host);
    MPI_Comm_size(host, &local);
    MPI_Comm_free(&host);
    int cores = nb_set_threads(0);
    nb_set_threads(cores / local > 1 ? cores / local : 1);
}

void job_start(job *j, int threads_given)
{
    *j = (job){ 0, 1, 0 };
    if (!launched())
        return;
    MPI_Init(NULL, NULL);
    j->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &j->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &j->size);
    if (!threads_given)
        share_cores();
    if (j->rank != 0) { /* rank 0 speaks for the job */
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            return; /* then both ranks print: noisy, not wrong */
    }
}

int job_end(const job *j, int rc)
{
    if (!j->mpi)
        return rc;
    int worst;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return worst;
}

nb_status job_agree(const job *j, nb_status s, nb_err *err)
{
    return j->mpi ? nb_comm_agree(MPI_COMM_WORLD, s, err) : s;
}

int job_rc(const job *j, int rc)
{
    if (j->mpi)
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc;
}

nb_status job_attach(const job *j, nb_mlp *m, nb_err *err)
{
    return j->mpi ? nb_mlp_set_comm(m, MPI_COMM_WORLD, err) : NB_OK;
}

/* Rank 0's checkpoint (model, epochs done, scaler) on every rank. */
nb_status job_share_resume(const job *j, nb_mlp **m, int *done, nb_scaler *sc, nb_err *err)
{
    if (!j->mpi)
        return NB_OK;
    nb_mlp *r = nb_mlp_bcast(*m, 0, MPI_COMM_WORLD, err);
    if (!r) {
        if (j->rank == 0)
            nb_mlp_free(*m);
        *m = NULL;
        return err ? err->code : NB_ERR_NOMEM;
    }
    *m = r;
    int head[2] = { *done, sc->mean ? sc->d : 0 };
    MPI_Bcast(head, 2, MPI_INT, 0, MPI_COMM_WORLD);
    *done = head[0];
    nb_status s = NB_OK;
    if (head[1] && j->rank != 0) {
        sc->d = head[1];
        sc->mean = malloc((size_t)head[1] * sizeof *sc->mean);
        sc->std = malloc((size_t)head[1] * sizeof *sc->std);
        if (!sc->mean || !sc->std)
            s = nb_err_set(err, NB_ERR_NOMEM, "--resume: out of memory");
    }
    if ((s = nb_comm_agree(MPI_COMM_WORLD, s, err)) == NB_OK && head[1]) {
        MPI_Bcast(sc->mean, head[1], MPI_DOUBLE, 0, MPI_COMM_WORLD);
        MPI_Bcast(sc->std, head[1], MPI_DOUBLE, 0, MPI_COMM_WORLD);
    }
    return s;
}

#else /* one process */

void job_start(job *j, int threads_given)
{
    (void)threads_given;
    *j = (job){ 0, 1, 0 };
}

int job_end(const job *j, int rc)
{
    (void)j;
    return rc;
}

nb_status job_agree(const job *j, nb_status s, nb_err *err)
{
    (void)j, (void)err;
    return s;
}

int job_rc(const job *j, int rc)
{
    (void)j;
    return rc;
}

nb_status job_attach(const job *j, nb_mlp *m, nb_err *err)
{
    (void)j, (void)m, (void)err;
    return NB_OK;
}

nb_status job_share_resume(const job *j, nb_mlp **m, int *done, nb_scaler *sc, nb_err *err)
{
    (void)j, (void)m, (void)done, (void)sc, (void)err;
    return NB_OK;
}
#endif
