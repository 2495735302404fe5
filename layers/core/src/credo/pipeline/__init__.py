"""The training pipeline's steps, one function each; Step Functions calls them through thin Lambdas.

    load        credo.pipeline.load.load_warehouse           the lake into the warehouse
    features    credo.pipeline.features.prepare_training     training snapshots UNLOADed as Parquet
    (train)     training/train.py on SageMaker                model.tar.gz
    evaluate    credo.pipeline.evaluate.evaluate_models       challenger vs champion, out of time
    promote     credo.pipeline.promote.promote_models         register; move the champion if earned
    materialize credo.pipeline.materialize.materialize_as_of  the as-of features into DynamoDB

Event shapes are credo.pipeline.events; adapters are built by credo.pipeline.dependencies.
This module imports nothing: evaluate and promote run on the runtime layer (onnxruntime, no
pyarrow) and load, features and materialize on the data layer (pyarrow, no onnxruntime), so each
handler imports only its own step's module.
"""
