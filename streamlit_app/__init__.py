"""The Streamlit viewer: reads a warehouse's published tables and draws them."""
