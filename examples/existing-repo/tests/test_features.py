import pandas as pd
import pytest
from tumour.features import FEATURES, select_features, snake


def test_snake_case():
    assert snake("mean concave points") == "mean_concave_points"


def test_select_features_orders_and_casts():
    frame = pd.DataFrame({name.replace("_", " "): [1] for name in reversed(FEATURES)})
    selected = select_features(frame.assign(extra=[0]))
    assert list(selected.columns) == FEATURES
    assert (selected.dtypes == "float64").all()


def test_select_features_names_missing_columns():
    with pytest.raises(KeyError, match="mean_radius"):
        select_features(pd.DataFrame({"mean texture": [1.0]}))
