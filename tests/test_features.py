from churn.core.features import FIELDS, prepare_customer


def test_prepare_lowercases_names_and_values_and_replaces_spaces():
    prepared = prepare_customer({"Contract": "Month-to-month", "PaymentMethod": "Bank transfer (automatic)"})
    assert prepared == {"contract": "month-to-month", "paymentmethod": "bank_transfer_(automatic)"}


def test_prepare_reads_numbers_written_as_text_as_in_the_csv():
    prepared = prepare_customer(
        {"SeniorCitizen": "1", "tenure": "41", "MonthlyCharges": "79.85", "TotalCharges": "3320.75"}
    )
    assert prepared == {"seniorcitizen": 1, "tenure": 41, "monthlycharges": 79.85, "totalcharges": 3320.75}


def test_prepare_reads_blank_totalcharges_as_zero_like_the_book():
    assert prepare_customer({"TotalCharges": " "})["totalcharges"] == 0.0


def test_prepare_keeps_json_numbers_as_they_are():
    assert prepare_customer({"tenure": 41, "monthlycharges": 79.85}) == {"tenure": 41, "monthlycharges": 79.85}


def test_prepare_passes_through_values_it_cannot_read_for_validation_to_name():
    raw = {"tenure": "forty", "monthlycharges": "1_000", "totalcharges": "nan", "gender": None}
    assert prepare_customer(raw) == raw


def test_prepare_refuses_to_read_very_long_numbers():
    assert prepare_customer({"tenure": "9" * 5000})["tenure"] == "9" * 5000


def test_prepare_lowercases_ids_like_the_book():
    assert prepare_customer({"customerID": "7590-VHVEG"}) == {"customerid": "7590-vhveg"}


def test_real_data_is_prepared_like_the_book(customers):
    assert len(customers) == 7043
    assert all(set(FIELDS) <= set(customer) for customer in customers)
    assert sum(customer["churn"] for customer in customers) == 1869
    blank_total = [customer for customer in customers if customer["tenure"] == 0]
    assert len(blank_total) == 11 and all(customer["totalcharges"] == 0.0 for customer in blank_total)
    assert {customer["seniorcitizen"] for customer in customers} == {0, 1}
    assert {customer["contract"] for customer in customers} == {"month-to-month", "one_year", "two_year"}
