/// The property suite: the paper's claims stated as properties over random networks.
module StableOde.PropertyTests.Main

open Expecto

[<EntryPoint>]
let main argv =
    runTestsWithCLIArgs [] argv (testList "StableOde" [ TrainingTests.tests ])
