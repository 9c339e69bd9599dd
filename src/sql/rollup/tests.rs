//! The rule's matching, on plans DataFusion builds from SQL over tables that send nothing.
