using System.Runtime.InteropServices;

namespace StableOde.Cli;

/// <summary>
/// The few calls of Open MPI that data-parallel training (SPEC §11) needs, bound by P/Invoke to
/// <c>libmpi.so.40</c> (Open MPI 4, Debian's <c>libopenmpi3</c>). MPI.NET 1.4.0 from NuGet binds
/// MS-MPI's <c>msmpi.dll</c> and declares MPI_Comm and MPI_Datatype as MS-MPI's integer constants
/// (MPI_COMM_WORLD = 0x44000000); in Open MPI they are the addresses of its globals
/// (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_double</c>), so no redirection of the library makes it
/// work on Linux. The library is loaded only by <see cref="Start"/>, that is only under
/// <c>mpirun</c> with more than one rank.
/// </summary>
internal sealed class Mpi : IDisposable
{
    private const string Library = "libmpi.so.40";
    private const int Success = 0;

    private readonly IntPtr world;
    private readonly IntPtr mpiDouble;
    private readonly SortedDictionary<int, (long Count, double Seconds)> byLength = [];
    private bool finalized;

    private Mpi(IntPtr library)
    {
        Check(MPI_Init(IntPtr.Zero, IntPtr.Zero), "MPI_Init");
        world = NativeLibrary.GetExport(library, "ompi_mpi_comm_world");
        mpiDouble = NativeLibrary.GetExport(library, "ompi_mpi_double");
        Check(MPI_Comm_rank(world, out var rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(world, out var size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    /// <summary>Whether this process is one of several ranks started by Open MPI's <c>mpirun</c> (which sets <c>OMPI_COMM_WORLD_SIZE</c>).</summary>
    public static bool Launched =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out var size) && size > 1;

    /// <summary>This process's rank in MPI_COMM_WORLD.</summary>
    public int Rank { get; }

    /// <summary>The number of ranks.</summary>
    public int Size { get; }

    /// <summary>Reductions so far (calls of <see cref="Gather"/>).</summary>
    public long Reductions { get; private set; }

    /// <summary>Doubles this rank has sent so far (each reduction sends its vector and receives <see cref="Size"/> times as many).</summary>
    public long DoublesSent { get; private set; }

    /// <summary>Seconds this rank has spent in MPI_Allgather so far: the messages and the wait for the slowest rank.</summary>
    public double GatherSeconds { get; private set; }

    /// <summary>The reductions so far by the length of the vector a rank sends, shortest first: how many, and the seconds spent in them.</summary>
    public IReadOnlyDictionary<int, (long Count, double Seconds)> ByLength => byLength;

    /// <summary>Whether the ranks agreed to train (<see cref="Agree"/>): from then on a failure on one rank cannot be agreed on, and ends every rank by MPI_Abort.</summary>
    public bool Training { get; private set; }

    /// <summary>Whether this rank has called <see cref="Agree"/> (which every rank calls once).</summary>
    public bool Agreed { get; private set; }

    /// <summary>Loads Open MPI and initialises it.</summary>
    /// <returns>This process's place among the ranks.</returns>
    /// <exception cref="DllNotFoundException">Open MPI is not installed (the message says which package installs it).</exception>
    public static Mpi Start()
    {
        if (!NativeLibrary.TryLoad(Library, out var library))
        {
            throw new DllNotFoundException($"stableode runs on several ranks with Open MPI, but {Library} is not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)");
        }

        return new Mpi(library);
    }

    /// <summary>The vectors all ranks pass (all of one length), concatenated in rank order on every rank (MPI_Allgather): the one reduction of the core's <c>Ranks</c>.</summary>
    /// <param name="vector">This rank's vector.</param>
    /// <returns>Every rank's vector, rank 0's first.</returns>
    public double[] Gather(double[] vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        var gathered = new double[vector.Length * Size];
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        Check(MPI_Allgather(vector, vector.Length, mpiDouble, gathered, vector.Length, mpiDouble, world), "MPI_Allgather");
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        Reductions++;
        DoublesSent += vector.Length;
        GatherSeconds += seconds;
        var (count, total) = byLength.GetValueOrDefault(vector.Length);
        byLength[vector.Length] = (count + 1, total + seconds);
        return gathered;
    }

    /// <summary>
    /// The point where the ranks agree that every one of them is ready to train (one reduction; every rank calls it once,
    /// on success or on its failure). When any rank failed, every rank stops: the lowest failed rank rethrows its own failure (its one line), every other rank throws
    /// <see cref="AnotherRankFailed"/>, which ends it with exit code 1 and no line. Afterwards <see cref="Training"/> is true.
    /// </summary>
    /// <param name="failure">This rank's failure, or null.</param>
    public void Agree(Exception? failure)
    {
        Agreed = true;
        var failed = Gather([failure is null ? 0.0 : 1.0]);
        var first = Array.FindIndex(failed, f => f > 0.0);
        if (first < 0)
        {
            Training = true;
            return;
        }

        if (first == Rank && failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        throw new AnotherRankFailed();
    }

    /// <summary>Ends every rank with the exit code (MPI_Abort), for a failure after the ranks began to train.</summary>
    /// <param name="code">The exit code.</param>
    public void Abort(int code)
    {
        MPI_Abort(world, code);
    }

    /// <summary>Finalises MPI.</summary>
    public void Dispose()
    {
        if (!finalized)
        {
            finalized = true;
            MPI_Finalize();
        }
    }

    private static void Check(int code, string call)
    {
        if (code != Success)
        {
            throw new InvalidOperationException($"{call} failed with MPI error {code}");
        }
    }

    [DllImport(Library)]
    private static extern int MPI_Init(IntPtr argc, IntPtr argv);

    [DllImport(Library)]
    private static extern int MPI_Comm_rank(IntPtr comm, out int rank);

    [DllImport(Library)]
    private static extern int MPI_Comm_size(IntPtr comm, out int size);

    [DllImport(Library)]
    private static extern int MPI_Allgather(double[] sendBuffer, int sendCount, IntPtr sendType, double[] receiveBuffer, int receiveCount, IntPtr receiveType, IntPtr comm);

    [DllImport(Library)]
    private static extern int MPI_Abort(IntPtr comm, int errorCode);

    [DllImport(Library)]
    private static extern int MPI_Finalize();

    /// <summary>Another rank failed before training, and said so; this rank ends with exit code 1 and no line of its own.</summary>
    internal sealed class AnotherRankFailed : Exception
    {
        /// <summary>The failure.</summary>
        public AnotherRankFailed()
            : base("another rank failed")
        {
        }
    }
}
