/// A trained model: network, parameters and classifier, with the loss of SPEC §3 on the
/// propagated data and its exact gradient with respect to every parameter and the input.
namespace StableOde.Core

open MathNet.Numerics.LinearAlgebra

/// A network with its parameters θ and its classifier (W, μ).
type Model =
    { Network: Network
      Parameters: Parameters
      Classifier: Classifier }

/// The loss of a model on a batch and its gradient with respect to everything.
type ModelGradient =
    { /// S(h(Y_N W + 1μᵀ), C).
      Loss: float
      /// The propagated features Y_N.
      YN: Matrix<float>
      /// ∂S/∂θ: K_j, b_j (and c_j for Verlet).
      GradTheta: Parameters
      GradW: Matrix<float>
      GradMu: Vector<float>
      /// ∂S/∂Y_0.
      GradY0: Matrix<float> }

/// Loss, gradient and prediction of a whole model.
module Model =

    /// Checks network, parameters and classifier together; throws ArgumentException naming the problem.
    let validate (model: Model) =
        Network.validate model.Network
        Parameters.validate model.Network model.Parameters
        Classifier.validate (Network.width model.Network) model.Classifier

    /// The loss on a batch Y_0 with label matrix C.
    let loss (model: Model) (y0: Matrix<float>) (c: Matrix<float>) : float =
        validate model
        Classifier.loss model.Classifier (Solve.forward model.Network model.Parameters y0) c

    /// The loss and its exact gradient: forward pass, classifier gradient, adjoint solve.
    let gradient (strategy: AdjointStrategy) (model: Model) (y0: Matrix<float>) (c: Matrix<float>) : ModelGradient =
        validate model
        Solve.withTape strategy model.Network model.Parameters y0 (fun tape ->
            let yN = tape.YN
            let lg = Classifier.lossGradient model.Classifier yN c
            let gTheta, gY0 = Solve.backward tape lg.GradY
            { Loss = lg.Loss; YN = yN; GradTheta = gTheta; GradW = lg.GradW; GradMu = lg.GradMu; GradY0 = gY0 })

    /// Class probabilities of each example of Y_0.
    let probabilities (model: Model) (y0: Matrix<float>) : Matrix<float> =
        validate model
        Classifier.probabilities model.Classifier (Solve.forward model.Network model.Parameters y0)

    /// The predicted label of each example of Y_0.
    let predict (model: Model) (y0: Matrix<float>) : int[] =
        validate model
        Classifier.predict model.Classifier (Solve.forward model.Network model.Parameters y0)

    /// The predicted label (`Classifier.predict`) and the class probabilities of each example of
    /// Y_0, from one forward pass.
    let prediction (model: Model) (y0: Matrix<float>) : int[] * Matrix<float> =
        validate model
        let yN = Solve.forward model.Network model.Parameters y0
        Classifier.predict model.Classifier yN, Classifier.probabilities model.Classifier yN
