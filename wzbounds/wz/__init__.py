"""Sequential Wyner–Ziv view of KV-cache compression: the finite setup and the Bayes-risk
identity (:mod:`.setup`, :mod:`.bayes_risk`), one-shot Wyner–Ziv rate–distortion
(:mod:`.rate_distortion`) and error propagation / rate allocation across layers (:mod:`.layers`)."""
