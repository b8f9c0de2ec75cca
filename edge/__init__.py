"""The Raspberry Pi edge side: sensor drivers and the publishing path to the broker.

Everything here installs with `pip install citysense[edge]`: no pandas, scikit-learn or FastAPI.
"""
