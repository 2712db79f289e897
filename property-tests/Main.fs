/// The property suite: the conformance of every operator and propagator, and the paper's claims
/// stated as properties over random networks.
module StableOde.PropertyTests.Main

open Expecto

/// Every list of the suite.
let tests =
    testList "StableOde" [
        testList "conformance" [ OperatorConformance.tests; NetworkConformance.tests; EngineMatchesReference.tests; Schemes.tests ]
        testList "claims of the paper" [
            Reversal.tests
            Conservation.tests
            Spectra.tests
            Example1.tests
            Lemma1.tests
            StabilityAnalysis.tests ]
        TrainingTests.tests
    ]

/// Runs the suite; Expecto's command-line options apply (--summary, --filter, --sequenced, …).
[<EntryPoint>]
let main argv = runTestsWithCLIArgs [] argv tests
